"""The refit's record on a study: what :mod:`autolit.search.run.refit` trained and tested.

Trials are cheap (few epochs, never the test split); what a study hands over is the refit of its
best trial, ``study.refit: {max_epochs: N, <dotted key>: value, …}`` (or ``python -m
autolit.search best --refit`` on any finished study). The refit is the only fit of a search that
reads the test split. Its run folder, checkpoint, test metrics and the trial's val figure are stored
on the study (user attribute ``refit``), where the report, ``status`` and ``best --export`` read it
through this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from autolit.search.records import best_trial

REFIT = "refit"          # study user attribute: the record of the last refit


def refit_settings(study: optuna.Study) -> dict[str, Any]:
    """``study.refit`` of the search config the study ran (``{}``: the trial's own budget, when the
    config has none or is no longer on this host)."""
    from autolit.search.config import load_search_config

    path = study.user_attrs.get("search_config")
    if not path or not Path(path).is_file():
        return {}
    return load_search_config(path).study.refit or {}


def refit_of(study: optuna.Study, best: FrozenTrial | None = None) -> dict[str, Any] | None:
    """The study's refit record when it refitted the trial that is best now (``best``, read from the
    study when not given), else ``None``: none yet, or more trials ran since and another one leads."""
    record = study.user_attrs.get(REFIT)
    best = best_trial(study) if best is None else best
    if not isinstance(record, dict) or best is None or record.get("trial") != best.number:
        return None
    return record


def refit_text(record: dict[str, Any]) -> str:
    """One line: ``refit of trial 3 (12 epochs, 41s): test/acc=0.9951 val/acc=0.9948; trial 3's val/acc=0.9902``."""
    from autolit.search.records import duration_text

    metric = record["metric"]
    tests = " ".join(f"{k}={v:.4f}" for k, v in sorted(record["metrics"].items()) if k.startswith("test/"))
    val = record["metrics"].get(metric)
    val_text = f" {metric}={val:.4f}" if isinstance(val, float) else ""
    note = f" ({record['note']})" if record.get("note") else ""
    return (f"refit of trial {record['trial']} ({record['max_epochs']} epochs, {duration_text(record['seconds'])}): "
            f"{tests or 'no test metrics'}{val_text}; trial {record['trial']}'s {metric}={record['trial_value']:.4f}"
            f"{note}; run folder {record['run_dir']}")
