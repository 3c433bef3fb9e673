"""A tiny synthetic store and a base fit config, shared by the fit tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from autolit.store import StoreWriter, encode_array

LABELS = ["bar", "dot", "ring"]


def write_store(path: Path, n: int = 150, size: int = 8, labels=LABELS) -> Path:
    """Images a small CNN separates in a few epochs: each label draws a different shape."""
    rng = np.random.default_rng(0)
    with StoreWriter(path, labels=list(labels)) as writer:
        for i in range(n):
            k = i % len(labels)
            img = rng.integers(0, 40, (size, size), dtype=np.uint8)
            if k == 0:
                img[size // 2 - 1: size // 2 + 1, :] = 220
            elif k == 1:
                img[size // 2 - 1: size // 2 + 1, size // 2 - 1: size // 2 + 1] = 220
            else:
                img[[0, -1], :] = 220
                img[:, [0, -1]] = 220
            writer.add_normalized(encode_array(img), label=labels[k], source=f"synthetic/{i}")
    return path


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("stores") / "tiny")


def base_config(store: Path) -> dict:
    return {
        "seed_everything": 0,
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 1},
        "model": {"task": "multiclass", "layers": [
            {"Conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
            {"ReLU": {}},
            {"Flatten": {}},
            {"Linear": {"out_features": "n_labels"}},
        ]},
        "data": {"store": str(store), "batch_size": 32},
        "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}},
    }


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
