"""The checkpoints a fit writes: best.ckpt, and last.ckpt (for --ckpt_path last) even beside a config's own."""

from __future__ import annotations

import functools
import sys

import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from autolit.training import run_fit
from tests.training.conftest import base_config


def _own_checkpoint(**init_args) -> dict:
    return {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": init_args}


def test_a_configs_own_model_checkpoint_still_gets_last_ckpt(tiny_store, tmp_path, monkeypatch):
    """configs/hymenoptera_pretrained.yaml gives ModelCheckpoint(filename: best): no last.ckpt was written."""
    monkeypatch.setattr(sys, "argv", sys.argv[:1])
    config = base_config(tiny_store)
    config["trainer"].update(max_epochs=1, callbacks=[_own_checkpoint(monitor="val/loss", mode="min",
                                                                      filename="best")])
    result = run_fit(config, run_dir=tmp_path / "run", test=False, progress=False)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert result.best_checkpoint == tmp_path / "run" / "checkpoints" / "best.ckpt"  # the config's own


@pytest.mark.parametrize("own", [{"save_last": True}, {"filename": "last"}])
def test_no_second_last_ckpt_beside_one_that_saves_it(own, tiny_store, tmp_path, monkeypatch):
    from autolit.training.cli import build_cli

    monkeypatch.setattr(sys, "argv", sys.argv[:1])
    config = base_config(tiny_store)
    config["trainer"]["callbacks"] = [_own_checkpoint(monitor="val/loss", **own)]
    cli = build_cli(config, run_dir=tmp_path / "run", progress=False)
    checkpoints = [c for c in cli.trainer.callbacks if isinstance(c, ModelCheckpoint)]
    assert len(checkpoints) == 1


def test_resume_and_test_load_their_checkpoints_weights_only(tiny_store, tmp_path, monkeypatch):
    """DESIGN: torch.load(..., weights_only=True); the Trainer loads ckpt_path, so it is told so."""
    import lightning as L

    monkeypatch.setattr(sys, "argv", sys.argv[:1])
    calls = []
    for name in ("fit", "test"):
        original = getattr(L.Trainer, name)

        @functools.wraps(original)  # keeps the signature the weights_only guard reads
        def spy(self, *args, _original=original, _name=name, **kwargs):
            calls.append((_name, kwargs.get("ckpt_path"), kwargs.get("weights_only")))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(L.Trainer, name, spy)
    config = base_config(tiny_store)
    config["trainer"]["max_epochs"] = 1
    run_fit(config, run_dir=tmp_path / "a", progress=False)
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    run_fit({**config, "trainer": {**config["trainer"], "max_epochs": 2}, "ckpt_path": str(last)},
            run_dir=tmp_path / "b", test=False, progress=False)  # a real weights-only resume
    assert [(n, w) for n, _, w in calls] == [("fit", True), ("test", True), ("fit", True)]
    assert calls[1][1].endswith("best.ckpt") and calls[2][1] == str(last)
