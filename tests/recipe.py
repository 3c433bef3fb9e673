"""Shared by the CPU and GPU tests of configs/mnist_fast.yaml: the recipe on a test store, a per-step counter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import yaml

REPO = Path(__file__).resolve().parents[1]


def recipe_config(store: Path, batch_size: int, **trainer) -> dict:
    """configs/mnist_fast.yaml on ``store`` (no import source), with trainer overrides."""
    config = yaml.safe_load((REPO / "configs" / "mnist_fast.yaml").read_text())
    config["data"].update(store=str(store), source=None, batch_size=batch_size)
    config["trainer"].update(trainer)
    return config


class PerStep(L.Callback):
    """How much ``count()`` grew between the starts of consecutive training steps of one epoch.

    Start to start covers all of a step's work (the step, logging, the next batch) and leaves out
    what happens once per epoch (validation, checkpoints).
    """

    def __init__(self, count: Callable[[], int]) -> None:
        self.count, self.deltas, self._last = count, [], None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._last = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        now = self.count()
        if self._last is not None:
            self.deltas.append(now - self._last)
        self._last = now
