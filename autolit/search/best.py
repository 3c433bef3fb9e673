"""Which checkpoint a study's best trial left: what ``search best --export`` and
``autolit.export --storage`` hand to :func:`autolit.deploy.export_checkpoint`."""

from __future__ import annotations

from pathlib import Path

from optuna.trial import FrozenTrial

from autolit.errors import UserError
from autolit.search.records import CHECKPOINT, best_trial, load_existing_study


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


def best_checkpoint(storage: str, study_name: str) -> Path:
    """The best completed trial's checkpoint of a study (UserError when there is none)."""
    best = best_trial(load_existing_study(storage, study_name))
    if best is None:
        raise UserError(f"study {study_name} in {storage} has no completed trial yet; fix: run the search "
                        "first, or pass a checkpoint path")
    print(f"study {study_name}: best trial {best.number} (value {best.value:.4g})")
    return trial_checkpoint(best)
