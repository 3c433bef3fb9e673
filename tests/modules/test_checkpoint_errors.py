"""A damaged or edited checkpoint is one UserError naming the file and the fix, never a traceback."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import torch

from autolit.errors import UserError
from autolit.modules import AutoLitModule
from autolit.modules.checkpoint import load_checkpoint, rebuild_model
from tests.errors import says

LAYERS = [{"Flatten": {}}, {"Linear": {"out_features": 8}}, {"ReLU": {}}, {"Linear": {"out_features": "n_labels"}}]


@pytest.fixture
def ckpt() -> dict:
    model = AutoLitModule(layers=LAYERS, n_labels=3, input_shape=[1, 4, 4], label_names=["a", "b", "c"])
    return {"state_dict": model.state_dict(), "hyper_parameters": copy.deepcopy(dict(model.hparams))}


def test_the_saved_hyperparameters_rebuild(ckpt: dict) -> None:
    assert rebuild_model(ckpt).hparams.label_names == ["a", "b", "c"]


def test_weights_of_another_width_are_a_state_dict_mismatch(ckpt: dict) -> None:
    """load_state_dict(strict=False) still raises RuntimeError on a size mismatch."""
    layers = ckpt["hyper_parameters"]["layers"]  # the resolved spec: edit both ends of the hidden width
    layers[1]["Linear"]["out_features"] = layers[3]["Linear"]["in_features"] = 9  # weights were trained at 8
    with says(UserError, 'm.ckpt:',
              'state_dict does not match the rebuilt network',
              'fix: export a checkpoint written by'):
        rebuild_model(ckpt, "m.ckpt")


@pytest.mark.parametrize("label_names", [5, "abc", [1, 2, 3]])
def test_label_names_that_are_not_a_list_of_names(ckpt: dict, label_names: object) -> None:
    ckpt["hyper_parameters"]["label_names"] = label_names
    with says(UserError, 'm.ckpt:',
              'its hyper_parameters do not rebuild the model',
              'model.label_names must be a list of label names (strings)'):
        rebuild_model(ckpt, "m.ckpt")


@pytest.mark.parametrize("seed", [4, 17, 0, 1])  # 4: IndexError, 17: KeyError inside torch's legacy reader
def test_a_damaged_legacy_checkpoint_cannot_be_read(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    path = tmp_path / "old.ckpt"
    path.write_bytes(b"\x80\x02" + bytes(rnd.getrandbits(8) for _ in range(rnd.choice([10, 100, 1000]))))
    with pytest.raises(UserError, match=r"checkpoint .*old\.ckpt (cannot be read|refusing)|refusing to load"):
        load_checkpoint(path)


def test_a_legacy_checkpoint_cut_short_cannot_be_read(tmp_path: Path, ckpt: dict) -> None:
    whole = tmp_path / "whole.ckpt"
    torch.save(ckpt, whole, _use_new_zipfile_serialization=False)
    for cut in (3, 40, 400, whole.stat().st_size - 5):
        path = tmp_path / f"cut{cut}.ckpt"
        path.write_bytes(whole.read_bytes()[:cut])
        with pytest.raises(UserError, match=rf"checkpoint .*cut{cut}\.ckpt"):
            load_checkpoint(path)
