"""The model a study hands over: its best trial's refit (:mod:`autolit.search.refit`) when there is
one, else the checkpoint the best trial left; and its export.

``python -m autolit.search best --export DIR`` and ``python -m autolit.export --storage S
--study-name X`` are one route: both call :func:`export_best`, so they pick the same checkpoint
and export it with the same defaults and checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
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


def best_model(study: optuna.Study) -> tuple[Path, str]:
    """The checkpoint a study hands over and what it is: the refit of its best trial when there is
    one (``the refit of trial 3 (test/acc 0.9951)``), else the trial's own (``trial 3 (val/acc 0.9884)``)."""
    from autolit.search.refit import refit_of

    best = best_trial(study)
    if best is None:
        raise UserError(f"study {study.study_name} has no completed trial yet; fix: run the search first, "
                        "or export a checkpoint path")
    metric = study.user_attrs.get("metric", "value")
    refit = refit_of(study)
    if refit and refit.get("checkpoint") and Path(refit["checkpoint"]).is_file():
        tests = ", ".join(f"{k} {v:.4g}" for k, v in sorted(refit["metrics"].items()) if k.startswith("test/"))
        return Path(refit["checkpoint"]), f"the refit of trial {best.number} ({tests or 'untested'})"
    return trial_checkpoint(best), f"trial {best.number} ({metric} {best.value:.4g})"


def export_best(storage: str, study_name: str, out: str | Path, formats: Sequence[str] | str | None = None,
                **options: Any) -> Any:
    """Export the model :func:`best_model` picks into ``out`` with :func:`autolit.deploy.export_checkpoint`
    (``options``: its ``quantize``, ``store``, ``tolerance``); return its report."""
    from autolit.deploy import DEFAULT_FORMATS, export_checkpoint

    ckpt, what = best_model(load_existing_study(storage, study_name))
    print(f"study {study_name}: exporting {what} from {ckpt}", flush=True)
    return export_checkpoint(ckpt, out, formats or DEFAULT_FORMATS, **options)
