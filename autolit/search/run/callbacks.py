"""Lightning callback that reports the study metric to Optuna and stops pruned trials cleanly.

Like ``optuna_integration.PyTorchLightningPruningCallback`` in its distributed mode, it does not
raise inside the training loop: it sets ``trainer.should_stop`` so Lightning finishes the epoch,
closes loggers and checkpoints normally, and the objective raises ``optuna.TrialPruned`` after
``fit`` returns (it reads :attr:`PruningReporter.pruned_at`).
"""

from __future__ import annotations

import math
import time
import warnings
from functools import lru_cache
from typing import Any

import optuna

from autolit.search.records import REPORTED_AT


class PruningReporter:
    """The pruning logic, free of Lightning so it can be driven by any trainer-like object."""

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.pruned_at: int | None = None
        self.last_value: float | None = None
        self._warned = False

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Report ``monitor`` at this epoch; ask the pruner; stop the trainer if it says so."""
        # The sanity check runs validation before epoch 0; reporting it would double-report step 0.
        if trainer.sanity_checking or self.pruned_at is not None:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            self._warn_missing(trainer)
            return
        score = float(value)
        if not math.isfinite(score):
            return  # a NaN metric is the loss's business (NonFiniteLossError), not the pruner's
        epoch = trainer.current_epoch
        self.last_value = score
        self.trial.report(score, step=epoch)
        self.trial.set_user_attr(REPORTED_AT, time.time())
        if self.trial.should_prune():
            self.pruned_at = epoch
            trainer.should_stop = True

    def _warn_missing(self, trainer: Any) -> None:
        if not self._warned:
            names = sorted(trainer.callback_metrics)
            warnings.warn(f"study metric {self.monitor!r} not logged; logged metrics: {names}", stacklevel=2)
            self._warned = True

    def verdict(self) -> str:
        """What the pruner saw when it stopped the trial, e.g. ``val/acc=0.5012 at epoch 1``."""
        return f"{self.monitor}={self.last_value:.4g} at epoch {self.pruned_at}"


@lru_cache(maxsize=1)
def _callback_class() -> type:
    from lightning.pytorch import Callback  # imported here: the stub tests never need Lightning

    class PruningCallback(PruningReporter, Callback):
        """:class:`PruningReporter` as a Lightning ``Callback``."""

    return PruningCallback


def make_pruning_callback(trial: optuna.Trial, monitor: str) -> PruningReporter:
    """A Lightning pruning callback for ``trial`` watching ``monitor`` (e.g. ``val/acc``)."""
    return _callback_class()(trial, monitor)
