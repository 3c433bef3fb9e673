"""Trial folders, and one record per trial that ``status``, the live lines and the report all read.

Each trial writes ``<runs_dir>/<study>/trial_<n>/`` (resolved config, TensorBoard logs, best
checkpoint — via ``run_fit`` — and ``trial.log``); its path is stored in the trial's ``run_dir``
user attribute so ``status``/``best``/``report`` find it from the storage alone.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from autolit.search.start import origin_of
from autolit.search.storage import WORKER_ATTR
from autolit.search.study import CONFIG_ERROR, OUTCOME_EPOCH, PRUNED_BY_PRUNER, REASON, RETRY_OF, outcome_of

RUN_DIR = "run_dir"
CHECKPOINT = "best_checkpoint"
N_LAYERS = "n_layers"  # layers in the trial's sampled spec
N_PARAMS = "n_params"
SLOT = "slot"
REPORTED_AT = "reported_at"  # set by the pruning callback after each epoch
TRIAL_LOG = "trial.log"  # in the trial folder: everything the trial's fit printed


def trial_dir(runs_dir: str | Path, study_name: str, number: int) -> Path:
    """Folder of one trial."""
    return Path(runs_dir) / study_name / f"trial_{number}"


def worker_log(runs_dir: str | Path, study_name: str, slot_label: str) -> Path:
    """Log of one worker process (``cpu#1`` → ``worker-cpu-1.log``) beside the trial folders."""
    return Path(runs_dir) / study_name / f"worker-{slot_label.replace('#', '-')}.log"


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials best first, then the others by number."""
    return rank_trials(study.get_trials(deepcopy=False), study.direction)


def rank_trials(trials: list[FrozenTrial], direction: optuna.study.StudyDirection) -> list[FrozenTrial]:
    """:func:`ranked` over an already read list of trials."""
    sign = -1.0 if direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    complete = [_is_scored(t) for t in trials]
    done = sorted((t for t, ok in zip(trials, complete) if ok), key=lambda t: (sign * t.value, t.number))
    rest = sorted((t for t, ok in zip(trials, complete) if not ok), key=lambda t: t.number)
    return done + rest


def _is_scored(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and trial.value is not None and math.isfinite(trial.value)


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best completed trial, or ``None`` when none has completed."""
    order = ranked(study)
    return order[0] if order and _is_scored(order[0]) else None


def param_order(key: str) -> tuple:
    """Scalars first, then layer params in spec order with each block's repeat count first."""
    parts = key.split(".")
    if parts[0] != "layers":
        return (0, key)
    return (1, [(0, int(p)) if p.isdigit() else (1 if p != "repeat" else -1, p) for p in parts[1:]])


def epochs_reached(trial: FrozenTrial) -> int:
    """Epochs the trial reported to the pruner (intermediate values are keyed by epoch)."""
    return max(trial.intermediate_values) + 1 if trial.intermediate_values else 0


def duration_s(trial: FrozenTrial, now: datetime | None = None) -> float | None:
    """Seconds from start to end (to now for a running trial)."""
    if trial.datetime_start is None:
        return None
    end = trial.datetime_complete or (now or datetime.now())
    return max(0.0, (end - trial.datetime_start).total_seconds())


def duration_text(seconds: float | None) -> str:
    """A duration as every search output writes it: ``-``, ``8.1s``, ``41s``, ``3m07s``, ``1h02m``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def state_detail(trial: FrozenTrial) -> str:
    """What a state means for this trial: the prune epoch or kind, the failure kind, a retry."""
    code = outcome_of(trial)
    if trial.state == TrialState.PRUNED and code == PRUNED_BY_PRUNER and OUTCOME_EPOCH in trial.user_attrs:
        return f"epoch {trial.user_attrs[OUTCOME_EPOCH]}"
    if trial.state in (TrialState.PRUNED, TrialState.FAIL) and code is not None:
        return code.replace("_", " ") if code == CONFIG_ERROR else code
    if trial.state == TrialState.PRUNED:
        return "pruned"
    if trial.state == TrialState.FAIL:
        return "worker died"
    if trial.state == TrialState.RUNNING:
        return f"epoch {epochs_reached(trial)}"
    if trial.state == TrialState.WAITING:
        return f"retry of {trial.user_attrs[RETRY_OF]}" if RETRY_OF in trial.user_attrs else "queued"
    return ""


def trial_record(trial: FrozenTrial, now: datetime | None = None) -> dict[str, Any]:
    """Everything a leaderboard row shows about one trial, as plain JSON-able values."""
    attrs = trial.user_attrs
    value = trial.value if trial.value is not None and math.isfinite(trial.value) else None
    steps = trial.intermediate_values
    last = steps[max(steps)] if steps else None
    reported = attrs.get(REPORTED_AT)
    start = trial.datetime_start.timestamp() if trial.datetime_start else None
    alive = max((t for t in (reported, start) if isinstance(t, (int, float))), default=None)
    record = {
        "rank": None,
        "number": trial.number,
        "value": value,
        "state": trial.state.name,
        "detail": state_detail(trial),
        "outcome": outcome_of(trial),
        "outcome_epoch": attrs.get(OUTCOME_EPOCH),
        "reason": str(attrs.get(REASON, "")),
        "n_layers": attrs.get(N_LAYERS),
        "n_params": attrs.get(N_PARAMS),
        "epochs": epochs_reached(trial),
        "duration_s": _round(duration_s(trial, now)),
        "slot": attrs.get(SLOT, ""),
        "worker": attrs.get(WORKER_ATTR, ""),
        "retry_of": attrs.get(RETRY_OF),
        "origin": origin_of(attrs),
        "start": trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None,
        "complete": trial.datetime_complete.isoformat(timespec="seconds") if trial.datetime_complete else None,
        "last_value": last if last is None or math.isfinite(last) else None,
        "heartbeat_age_s": None,
        "run_dir": attrs.get(RUN_DIR),
        "params": {k: trial.params[k] for k in sorted(trial.params, key=param_order)},
    }
    if trial.state == TrialState.RUNNING and alive is not None:
        record["heartbeat_age_s"] = _round(max(0.0, time.time() - alive))
    return record


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def study_records(study: optuna.Study, trials: list[FrozenTrial] | None = None) -> list[dict[str, Any]]:
    """One record per trial, best first; ``rank`` is set on scored (complete) trials."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    now = datetime.now()
    records = []
    for trial in rank_trials(trials, study.direction):
        record = trial_record(trial, now)
        if _is_scored(trial):
            record["rank"] = len(records) + 1
        records.append(record)
    return records


def state_counts(trials: list[FrozenTrial]) -> dict[str, int]:
    """``{state name: count}`` in a fixed order."""
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return dict(sorted(counts.items()))


def load_existing_study(storage: str, study_name: str) -> optuna.Study:
    """Load a study for reading; a missing storage or study, or a damaged journal, is a :class:`UserError`."""
    from autolit.errors import UserError
    from autolit.search.storage import check_storage, is_rdb, open_storage

    storage = check_storage(storage)
    if not is_rdb(storage) and not Path(storage).is_file():
        raise UserError(f"--storage {storage} does not exist: give the journal file of a study "
                        "(e.g. runs/search/<study>/journal.log) or a postgresql:// URL")
    opened = open_storage(storage, create=False)
    names = optuna.get_all_study_names(opened)
    if study_name not in names:
        raise UserError(f"--study-name {study_name}: not in {storage}; studies there: {names or 'none'}")
    return optuna.load_study(study_name=study_name, storage=opened)
