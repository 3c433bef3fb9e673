"""BestValMetrics: the val metrics of the best epoch by the monitor."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from autolit.training.callbacks import BestValMetrics


def _epochs(callback: BestValMetrics, values: list[float]) -> dict[str, float]:
    for i, value in enumerate(values):
        metrics = {"val/loss": torch.tensor(value), "val/acc": torch.tensor(float(i))}
        callback.on_validation_end(SimpleNamespace(sanity_checking=False, callback_metrics=metrics), None)
    return callback.metrics


def test_a_nan_epoch_is_never_the_best():
    assert _epochs(BestValMetrics("val/loss", "min"), [float("nan"), 0.5, 0.7])["val/acc"] == 1.0
    assert _epochs(BestValMetrics("val/loss", "min"), [0.5, float("nan"), float("inf")])["val/acc"] == 0.0
    assert _epochs(BestValMetrics("val/loss", "max"), [float("-inf"), 0.2])["val/acc"] == 1.0


def test_only_nan_epochs_still_report_their_metrics():
    """A trial whose every validation is NaN is pruned as non-finite, not taken for a missing metric."""
    metrics = _epochs(BestValMetrics("val/loss", "min"), [float("nan"), float("nan")])
    assert set(metrics) == {"val/loss", "val/acc"}
