"""Trial folders and the table of best trials.

Each trial writes ``<runs_dir>/<study>/trial_<n>/`` (resolved config, TensorBoard logs, best
checkpoint — via ``run_fit``); its path is stored in the trial's ``run_dir`` user attribute so
``status``/``best`` find it from the storage alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from autolit.search.study import REASON, RETRY_OF

RUN_DIR = "run_dir"
CHECKPOINT = "best_checkpoint"


def trial_dir(runs_dir: str | Path, study_name: str, number: int) -> Path:
    """Folder of one trial."""
    return Path(runs_dir) / study_name / f"trial_{number}"


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials best first, then the others by number."""
    trials = study.get_trials(deepcopy=False)
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    complete = [t.state == TrialState.COMPLETE and t.value is not None for t in trials]
    done = sorted((t for t, ok in zip(trials, complete) if ok), key=lambda t: (sign * t.value, t.number))
    rest = sorted((t for t, ok in zip(trials, complete) if not ok), key=lambda t: t.number)
    return done + rest


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best completed trial, or ``None`` when none has completed."""
    order = ranked(study)
    return order[0] if order and order[0].state == TrialState.COMPLETE else None


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _param_order(key: str) -> tuple:
    # Scalars first, then layer params in spec order with each block's repeat count first.
    parts = key.split(".")
    if parts[0] != "layers":
        return (0, key)
    return (1, [(0, int(p)) if p.isdigit() else (1 if p != "repeat" else -1, p) for p in parts[1:]])


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1] if not key.startswith("layers.") else key


def _fmt_params(trial: FrozenTrial, width: int) -> str:
    keys = sorted(trial.params, key=_param_order)
    text = " ".join(f"{_short(k)}={_fmt_value(trial.params[k])}" for k in keys)
    return text if len(text) <= width else text[: width - 1] + "…"


def _duration(trial: FrozenTrial) -> str:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return "-"
    return f"{(trial.datetime_complete - trial.datetime_start).total_seconds():.1f}s"


def _note(trial: FrozenTrial) -> str:
    note = str(trial.user_attrs.get(REASON, ""))
    if RETRY_OF in trial.user_attrs:
        note = f"retry of {trial.user_attrs[RETRY_OF]} {note}".strip()
    return note[:60]


def table_rows(study: optuna.Study, top: int = 10, params_width: int = 140) -> list[list[str]]:
    """Rows ``[number, value, state, duration, params, note]`` of the ``top`` best trials."""
    rows = []
    for trial in ranked(study)[:top]:
        value = "-" if trial.value is None or not math.isfinite(trial.value) else f"{trial.value:.4f}"
        rows.append([str(trial.number), value, trial.state.name, _duration(trial),
                     _fmt_params(trial, params_width), _note(trial)])
    return rows


def format_table(study: optuna.Study, top: int = 10) -> str:
    """Plain-text table of the best trials plus a one-line summary of states."""
    header = ["#", "value", "state", "duration", "params", "note"]
    rows = [header, *table_rows(study, top)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    states: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items()))
    title = f"study {study.study_name}: {summary or 'no trials'} ({study.direction.name.lower()})"
    return "\n".join([title, *lines])


def load_existing_study(storage: str, study_name: str) -> optuna.Study:
    """Load a study for reading; a missing storage or study is a :class:`UserError`."""
    from autolit.errors import UserError
    from autolit.search.storage import check_storage, is_rdb, open_storage

    storage = check_storage(storage)
    if not is_rdb(storage) and not Path(storage).is_file():
        raise UserError(f"--storage {storage} does not exist: give the journal file of a study")
    opened = open_storage(storage)
    names = optuna.get_all_study_names(opened)
    if study_name not in names:
        raise UserError(f"--study-name {study_name}: not in {storage}; studies there: {names or 'none'}")
    return optuna.load_study(study_name=study_name, storage=opened)
