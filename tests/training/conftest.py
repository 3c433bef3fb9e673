"""A base fit config for the tiny store (tests/conftest.py), shared by the fit tests, and running
``autolit.fit`` in-process as its command line does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

# At collection, not inside a test: Lightning binds its log handler to the sys.stderr of its first
# import, and a test's captured stderr is closed when that test ends.
from autolit import fit
from autolit.errors import run_cli


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


def run_inprocess(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    """``python -m autolit.fit ARGV`` in this process: the exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["autolit.fit", *map(str, argv)])
    with pytest.raises(SystemExit) as exc:
        run_cli(fit.main)
    return exc.value.code, capsys.readouterr().err


def error_line(err: str) -> str:
    """The one ``error: …`` line of a refusal (asserting it is the only one, the last, and no traceback)."""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err, err
    return errors[0]
