"""Ctrl-C during a fit: exit 130 with one line (Lightning itself turns the interrupt into exit 1)."""

from __future__ import annotations

import signal
import sys

import lightning as L
import pytest

from autolit import fit
from autolit.errors import run_cli
from tests.training.conftest import base_config, write_config


class InterruptAtEpoch(L.Callback):
    """What Ctrl-C (or a search worker's SIGTERM handler) raises inside the training loop."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise KeyboardInterrupt


@pytest.fixture
def keep_sigint():
    """Lightning sets SIGINT to SIG_IGN while it shuts down, and leaves it so."""
    saved = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, saved)


def test_ctrl_c_during_fit_exits_130_with_one_line(tiny_store, tmp_path, monkeypatch, capsys, keep_sigint):
    monkeypatch.chdir(tmp_path)
    config = base_config(tiny_store)
    config["trainer"]["callbacks"] = [{"class_path": f"{__name__}.InterruptAtEpoch"}]
    monkeypatch.setattr(sys, "argv", ["autolit.fit", "--config", str(write_config(tmp_path / "c.yaml", config))])
    with pytest.raises(SystemExit) as exc:
        run_cli(fit.main)
    err = capsys.readouterr().err
    assert exc.value.code == 130, err
    assert err.rstrip().splitlines()[-1] == "interrupted" and "Traceback" not in err
