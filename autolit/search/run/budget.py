"""A ``--timeout`` is a budget for the whole run, refit included, not only for starting trials.

The driver keeps the refit's share of the budget free: from the seconds per epoch the finished
trials took (their duration over their epochs, start-up included, so the estimate errs long) it
plans the last moment a trial may start (one trial's length before the refit's share) and the
moment the refit must start (running trials are stopped then). Before any trial has finished the
refit keeps the share it would take if trials and refit ran at one pace. The refit gets the epochs
that fit in what is left, at least one: a shortened refit says so in its note, and Lightning's
``max_time`` stops it at the end of the budget in any case.

Workers read the last-start time from a study user attribute named after the launch
(:func:`deadline_attr`), so a later launch on the same storage never sees an old one.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from autolit.search.records import duration_s, duration_text, epochs_reached

MARGIN = 0.15          # planned seconds are stretched by this much
TEST_SHARE = 0.1       # of the refit's time: its test and checkpoint loading after the last epoch
TRIALS_DEADLINE = "trials_deadline"


def deadline_attr(launch_tag: str) -> str:
    """The study user attribute holding the last trial start of one launch (``host:pid``)."""
    return f"{TRIALS_DEADLINE}:{launch_tag}"


@dataclass(frozen=True)
class Plan:
    """When trials stop starting, when the refit must start (``time.time()`` values)."""

    trials_deadline: float
    refit_start: float
    epoch_s: float | None


def epoch_seconds(trials: list[FrozenTrial]) -> float | None:
    """Median seconds per epoch of the finished trials that trained (``None`` before any did)."""
    paces = [duration_s(t) / epochs_reached(t) for t in trials
             if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and epochs_reached(t) > 0
             and duration_s(t) is not None]
    return statistics.median(paces) if paces else None


def plan(end: float, timeout: float, epoch_s: float | None, *, trial_epochs: int, refit_epochs: int,
         n_trials: int, n_slots: int) -> Plan:
    """The plan of a run that must end at ``end`` (``timeout`` seconds after it started)."""
    if epoch_s is None:
        rounds = math.ceil(n_trials / max(1, n_slots))
        share = refit_epochs / (refit_epochs + trial_epochs * rounds) if refit_epochs else 0.0
        refit_s = timeout * share
        return Plan(end - refit_s, end - refit_s, None)
    refit_s = epoch_s * refit_epochs * (1 + MARGIN)
    return Plan(end - refit_s - epoch_s * trial_epochs * (1 + MARGIN), end - refit_s, epoch_s)


def refit_epochs_within(end: float, epoch_s: float | None, wanted: int,
                        now: float | None = None) -> tuple[int, str]:
    """The refit's epochs that end by ``end``, and a note when that is fewer than ``wanted``."""
    left = end - (time.time() if now is None else now)
    if epoch_s is None or epoch_s <= 0:
        return wanted, ""
    fits = int(left * (1 - TEST_SHARE) / (epoch_s * (1 + MARGIN)))
    if fits >= wanted:
        return wanted, ""
    epochs = max(1, fits)
    return epochs, (f"shortened from {wanted} to {epochs} epoch(s) to end within the --timeout budget: "
                    f"{duration_text(max(0.0, left))} left at about {duration_text(epoch_s)} per epoch")


class BudgetKeeper:
    """The driver's side: re-plans as trials finish, publishes the last trial start for the workers,
    and says when the refit must start."""

    def __init__(self, study: object, *, end: float, timeout: float, trial_epochs: int, refit_epochs: int,
                 n_trials: int, n_slots: int, launch_tag: str) -> None:
        self.study, self.end, self.timeout = study, end, timeout
        self.sizes = {"trial_epochs": trial_epochs, "refit_epochs": refit_epochs, "n_trials": n_trials,
                      "n_slots": n_slots}
        self.attr = deadline_attr(launch_tag)
        self.epoch_s: float | None = None
        self.published: float | None = None

    def tick(self) -> Plan:
        """Re-plan from the trials so far; store the last trial start when it moved by a second or more."""
        self.epoch_s = epoch_seconds(self.study.get_trials(deepcopy=False))
        current = plan(self.end, self.timeout, self.epoch_s, **self.sizes)
        if self.published is None or abs(current.trials_deadline - self.published) >= 1.0:
            self.study.set_user_attr(self.attr, current.trials_deadline)
            self.published = current.trials_deadline
        return current

    def refit_due(self) -> bool:
        """Whether the refit's share has begun (the driver then stops the trials still running)."""
        return time.time() >= self.tick().refit_start
