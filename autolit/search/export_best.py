"""Export a study's best trial: its best checkpoint → TorchScript and/or ONNX through :mod:`autolit.export`."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from optuna.trial import FrozenTrial

from autolit.errors import UserError
from autolit.search.records import CHECKPOINT


def trial_checkpoint(trial: FrozenTrial) -> Path:
    """The best checkpoint a trial recorded (user attribute ``best_checkpoint``)."""
    path = trial.user_attrs.get(CHECKPOINT)
    if not path:
        raise UserError(f"trial {trial.number} recorded no checkpoint (user attr {CHECKPOINT}): "
                        "it ran without checkpointing; rerun it with autolit.fit")
    if not Path(path).is_file():
        raise UserError(f"trial {trial.number}'s checkpoint {path} is missing: run `best` on the host "
                        "that ran the trial, or copy its runs/search folder here")
    return Path(path)


def default_formats() -> str:
    """``torchscript,onnx`` when onnx and onnxruntime are installed, else ``torchscript``."""
    has_onnx = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
    return "torchscript,onnx" if has_onnx else "torchscript"


def export_trial(trial: FrozenTrial, out_dir: Path, formats: Sequence[str] | None = None) -> Path:
    """Export ``trial``'s checkpoint into ``out_dir`` in ``formats`` (default :func:`default_formats`),
    each file verified against the checkpoint by :func:`autolit.export.export_checkpoint`."""
    from autolit.export import export_checkpoint

    formats = default_formats().split(",") if formats is None else list(formats)
    report = export_checkpoint(trial_checkpoint(trial), out_dir, formats=formats)
    print(report.render())
    return out_dir
