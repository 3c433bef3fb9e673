"""A fit stopped with SIGTERM (the job service's stop) keeps the step it reached in last.ckpt, and
``--ckpt_path last`` resumes from there."""

from __future__ import annotations

import os
import signal
import sys

import lightning as L
import pytest
import torch

from autolit import fit
from autolit.errors import run_cli
from tests.training.conftest import base_config, write_config

STOP_AT = (1, 3)  # (epoch, batch): the second epoch, mid-way


class SigtermAt(L.Callback):
    """Sends this process SIGTERM after one batch, as ``kill -TERM`` would."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (trainer.current_epoch, batch_idx) == STOP_AT:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture
def keep_signals():
    """Lightning sets SIGINT to SIG_IGN while it shuts down, and leaves it so."""
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGINT, saved[0])
    signal.signal(signal.SIGTERM, saved[1])


def _run(monkeypatch, argv: list[str]) -> int:
    monkeypatch.setattr(sys, "argv", ["autolit.fit", *argv])
    with pytest.raises(SystemExit) as exc:
        run_cli(fit.main)
    return exc.value.code


def test_sigterm_mid_epoch_saves_last_and_resume_continues(tiny_store, tmp_path, monkeypatch, capsys,
                                                           keep_signals):
    monkeypatch.chdir(tmp_path)
    config = base_config(tiny_store)
    config["trainer"]["max_epochs"] = 3
    config["data"]["batch_size"] = 8
    stopping = dict(config, trainer={**config["trainer"], "callbacks": [{"class_path": f"{__name__}.SigtermAt"}]})
    path = write_config(tmp_path / "c.yaml", stopping)
    assert _run(monkeypatch, ["--config", str(path)]) == 130
    last = tmp_path / "runs" / "c" / "version_0" / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True, map_location="cpu")
    in_epoch = state["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["completed"]
    # the batch it stopped after (4 batches into epoch 1), not the end of epoch 0 saved before
    assert (state["epoch"], in_epoch) == (STOP_AT[0], STOP_AT[1] + 1)
    stopped_at = state["global_step"]

    write_config(path, config)  # the same run, without the stopping callback
    capsys.readouterr()
    assert _run(monkeypatch, ["--config", str(path), "--ckpt_path", "last"]) == 0
    resumed = torch.load(last, weights_only=True, map_location="cpu")
    assert resumed["epoch"] == 2 and resumed["global_step"] > stopped_at
    assert not (tmp_path / "runs" / "c" / "version_1").exists()  # logged into the resumed run
