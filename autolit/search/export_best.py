"""Export a study's best trial: its best checkpoint → TorchScript through :mod:`autolit.export`."""

from __future__ import annotations

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


def export_trial(trial: FrozenTrial, out_dir: Path) -> Path:
    """Export ``trial``'s checkpoint as TorchScript (verified against the checkpoint) into ``out_dir``."""
    from autolit.export import export_checkpoint

    report = export_checkpoint(trial_checkpoint(trial), out_dir, formats=("torchscript",))
    print(report.render())
    return out_dir
