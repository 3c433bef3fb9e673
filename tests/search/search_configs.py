"""Config helpers of the search tests: a tiny fit config, a stub space, and writing both to a folder.

A module of its own (``from tests.search.search_configs import ...``): tests never import a conftest.
"""

from __future__ import annotations

from pathlib import Path

import yaml

FIT = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 3},
    "model": {"task": "multiclass", "layers": [{"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}]},
    "data": {"batch_size": 32},
    "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.001}},
    "stub": {"sleep": 0.0, "epochs": 3},
}

SPACE = {
    "optimizer.init_args.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "data.batch_size": {"type": "categorical", "choices": [16, 32]},
    "model.layers": [
        {"repeat": {"low": 1, "high": 3},
         "layers": [{"Conv2d": {"out_channels": {"type": "int", "low": 4, "high": 16, "step": 4},
                                "kernel_size": 3, "padding": 1}},
                    {"ReLU": {}}]},
        {"Flatten": {}},
        {"Linear": {"out_features": "n_labels"}},
    ],
}


def write_configs(tmp: Path, *, fit: dict | None = None, study: dict | None = None,
                  space: dict | None = None, extra: dict | None = None) -> Path:
    """Write fit.yaml and search.yaml under ``tmp``; return the search config path."""
    (tmp / "fit.yaml").write_text(yaml.safe_dump(fit or FIT))
    search = {"fit_config": "fit.yaml",
              "study": {"name": "stub", "metric": "val/acc", "n_trials": 4, **(study or {})},
              "space": SPACE if space is None else space, **(extra or {})}
    path = tmp / "search.yaml"
    path.write_text(yaml.safe_dump(search, sort_keys=False))
    return path


def real_fit_config(store: Path) -> dict:
    """A fit config that trains in about a second on the tiny store."""
    return {
        "seed_everything": 0,
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 1,
                    "limit_train_batches": 2, "limit_val_batches": 1},
        "model": {"task": "multiclass", "layers": [{"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}]},
        "data": {"store": str(store), "batch_size": 16},
        "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}},
    }
