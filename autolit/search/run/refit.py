"""Running the refit: the best trial's resolved config trained again at the refit budget, and
tested once; the record goes on the study (:mod:`autolit.search.refit`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from autolit.errors import UserError
from autolit.search.best import trial_config
from autolit.search.config import MAX_EPOCHS, set_dotted
from autolit.search.records import RUN_DIR, best_trial
from autolit.search.refit import REFIT
from autolit.search.run.lifetime import output_to
from autolit.search.start import get_dotted

REFIT_LOG = "refit.log"  # in the refit folder: everything the refit's fit printed
FitFn = Callable[..., Any]


def refit_config(config: dict, settings: dict[str, Any], max_epochs: int | None = None) -> dict:
    """The trial's runnable config at the refit budget: ``settings``' overrides, then ``max_epochs``
    (``max_epochs`` argument first, else ``settings``'). A cosine schedule over the trial's epochs
    (``T_max`` equal to its ``max_epochs``) is stretched over the refit's."""
    epochs = max_epochs or settings.get(MAX_EPOCHS)
    for key, value in settings.items():
        if key != MAX_EPOCHS:
            set_dotted(config, key, value)
    if epochs is not None:
        old = get_dotted(config, "trainer.max_epochs")[1]
        found, t_max = get_dotted(config, "lr_scheduler.T_max")
        if found and old is not None and t_max == old:
            set_dotted(config, "lr_scheduler.T_max", int(epochs))
        set_dotted(config, "trainer.max_epochs", int(epochs))
    return config


def refit_dir(trial: FrozenTrial, study: optuna.Study) -> Path:
    """``<runs-dir>/<study>/refit``: beside the trial folders (the search's ``runs/search`` otherwise)."""
    run_dir = trial.user_attrs.get(RUN_DIR)
    base = Path(str(run_dir)).parent if run_dir else Path("runs/search") / study.study_name
    return (base / REFIT).absolute()


def run_refit(study: optuna.Study, settings: dict[str, Any], *, max_epochs: int | None = None,
              note: str = "", fit: FitFn | None = None) -> dict[str, Any]:
    """Refit the best trial, test it, record it on the study; return the record."""
    best = best_trial(study)
    if best is None:
        raise UserError(f"study {study.study_name} has no completed trial to refit: run the search first")
    config, source = trial_config(best, {**study.user_attrs, "_name": study.study_name})
    if config is None:
        raise UserError(f"cannot refit trial {best.number}: {source}")
    config = refit_config(config, settings, max_epochs)
    run_dir = refit_dir(best, study)
    run_dir.mkdir(parents=True, exist_ok=True)
    if fit is None:
        from autolit.training import run_fit as fit
    start = time.perf_counter()
    with output_to(run_dir / REFIT_LOG):
        result = fit(config, run_dir=run_dir, test=True, progress=False)
    metric = str(study.user_attrs.get("metric", "value"))
    record = {
        "trial": best.number, "trial_value": best.value, "metric": metric,
        "max_epochs": get_dotted(config, "trainer.max_epochs")[1], "seconds": round(time.perf_counter() - start, 1),
        "run_dir": str(Path(result.run_dir).absolute()),
        "checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
        "metrics": {k: float(v) for k, v in result.metrics.items()}, "source": source, "note": note,
    }
    study.set_user_attr(REFIT, record)
    return record
