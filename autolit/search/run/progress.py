"""What a running search prints: one line per finished trial, and a compact live progress line.

    trial 12 [cpu#1] COMPLETE val/acc=0.9139 (4 epochs, 3m37s) best=0.9139 #6
    trial 13 [cpu#0] PRUNED at epoch 1 val/acc=0.5012 (2 epochs, 41s) best=0.9139 #6
    [13/40 done, 2 running] best val/acc=0.9139 #6, elapsed 8m05s

The driver polls the storage (every second); the workers never write to the terminal. On a
terminal the progress line is redrawn in place; into a file or pipe it is printed at most every
``PIPE_EVERY_S`` seconds, so logs stay short.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from autolit.errors import one_line
from autolit.search import study as study_lib
from autolit.search.records import SLOT, duration_s, duration_text, epochs_reached, rank_trials

PIPE_EVERY_S = 60.0


def _metric(name: str, value: float | None) -> str:
    return f"{name}=-" if value is None or not math.isfinite(value) else f"{name}={value:.4f}"


def trial_line(trial: FrozenTrial, metric: str, best: FrozenTrial | None, retried: bool = False) -> str:
    """The one line printed when ``trial`` finishes; ``retried``: a retry of it is queued."""
    code = study_lib.outcome_of(trial)
    reason = one_line(trial.user_attrs.get(study_lib.REASON, ""), 120)
    epochs = epochs_reached(trial)
    last = trial.intermediate_values[max(trial.intermediate_values)] if epochs else None
    if trial.state == TrialState.COMPLETE:
        what = f"COMPLETE {_metric(metric, trial.value)}"
    elif code == study_lib.PRUNED_BY_PRUNER:
        what = f"PRUNED at epoch {trial.user_attrs.get(study_lib.OUTCOME_EPOCH, '?')} {_metric(metric, last)}"
    elif code == study_lib.CONFIG_ERROR:
        what = f"FAIL config error: {one_line(trial.user_attrs.get(study_lib.REASON, ''), 200)}"
    elif code is not None:
        what = f"{trial.state.name} {code}: {reason}"
    elif trial.state == TrialState.PRUNED:
        what = "PRUNED"
    else:
        what = "FAIL its worker died (retried once)" if retried else "FAIL its worker died"
    noun = "epoch" if epochs == 1 else "epochs"
    best_part = f" best={best.value:.4f} #{best.number}" if best is not None else ""
    return (f"trial {trial.number} [{trial.user_attrs.get(SLOT, '?')}] {what} "
            f"({epochs} {noun}, {duration_text(duration_s(trial))}){best_part}")


class Progress:
    """Prints trial lines for trials that finish after it was created, and the live line."""

    def __init__(self, study: optuna.Study, n_trials: int, metric: str, out: TextIO | None = None) -> None:
        self.study, self.n_trials, self.metric = study, n_trials, metric
        self.out = out or sys.stdout
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.start = time.time()
        self.last_status = self.start
        self.seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
        self.live = False

    def poll(self) -> None:
        """Read the study; print a line per newly finished trial; refresh the progress line."""
        trials = self.study.get_trials(deepcopy=False)
        order = rank_trials(trials, self.study.direction)
        best = order[0] if order and order[0].state == TrialState.COMPLETE else None
        new = sorted((t for t in trials if t.state.is_finished() and t.number not in self.seen),
                     key=lambda t: t.datetime_complete or t.datetime_start)
        retried = {t.user_attrs.get(study_lib.RETRY_OF) for t in trials}
        for trial in new:
            self.seen.add(trial.number)
            self._print(trial_line(trial, self.metric, _best_until(trials, trial, self.study.direction),
                                   retried=trial.number in retried))
        running = sum(t.state == TrialState.RUNNING for t in trials)
        done = sum(study_lib.counts(t) for t in trials)
        best_part = f"best {_metric(self.metric, best.value)} #{best.number}" if best else "no complete trial yet"
        status = f"[{done}/{self.n_trials} done, {running} running] {best_part}, elapsed {duration_text(time.time() - self.start)}"
        if self.tty:
            self.out.write(f"\r\x1b[K{status}")
            self.out.flush()
            self.live = True
        elif time.time() - self.last_status >= PIPE_EVERY_S:
            self._print(status)
            self.last_status = time.time()

    def note(self, line: str) -> None:
        """Print a line of the driver's own (a worker restart) above the progress line."""
        self._print(line)

    def _print(self, line: str) -> None:
        if self.live:
            self.out.write("\r\x1b[K")
            self.live = False
        print(line, file=self.out, flush=True)

    def close(self) -> None:
        """Print what finished since the last poll; leave the terminal on a fresh line."""
        self.poll()
        if self.live:
            self.out.write("\n")
            self.out.flush()
            self.live = False


def _best_until(trials: list[FrozenTrial], trial: FrozenTrial,
                direction: optuna.study.StudyDirection) -> FrozenTrial | None:
    """The best complete trial among those finished no later than ``trial`` (best-so-far on its line)."""
    end = trial.datetime_complete
    if end is None:
        return None
    earlier = [t for t in trials if t.datetime_complete is not None and t.datetime_complete <= end]
    order = rank_trials(earlier, direction)
    return order[0] if order and order[0].state == TrialState.COMPLETE else None
