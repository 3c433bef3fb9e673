"""The checkpoints a fit writes: best.ckpt, and last.ckpt (for --ckpt_path last) even beside a config's own."""

from __future__ import annotations

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
