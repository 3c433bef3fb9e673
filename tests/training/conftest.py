"""A base fit config for the tiny store (tests/conftest.py), shared by the fit tests."""

from __future__ import annotations

from pathlib import Path

import yaml


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
