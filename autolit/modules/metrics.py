"""torchmetrics per task, named so they log as ``val/acc``, ``test/f1``, ``val/rmse`` …"""

from __future__ import annotations

from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric, MetricCollection, R2Score
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryConfusionMatrix,
    BinaryF1Score,
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)


def build_metrics(task: str, n_labels: int, stage: str) -> MetricCollection:
    """Metrics for ``stage`` ("val" | "test"), keys prefixed ``"<stage>/"``.

    Inputs: multiclass ``(B, K)`` logits + ``(B,)`` long; binary ``(B,)`` probabilities +
    ``(B,)`` long; regression ``(B,)`` predictions + ``(B,)`` float.
    """
    metrics: dict[str, Metric]
    if task == "multiclass":
        metrics = {"acc": MulticlassAccuracy(num_classes=n_labels, average="micro"),
                   "f1": MulticlassF1Score(num_classes=n_labels, average="macro")}
    elif task == "binary":
        metrics = {"acc": BinaryAccuracy(), "f1": BinaryF1Score(), "auroc": BinaryAUROC()}
    else:
        metrics = {"mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False),
                   "r2": R2Score()}
    # compute_groups off: each metric is logged (and computed/reset) by Lightning on its own
    return MetricCollection(metrics, prefix=f"{stage}/", compute_groups=False)


def build_confusion(task: str, n_labels: int) -> Metric | None:
    """Confusion matrix for classification (n_labels x n_labels; 2 x 2 for binary), else None."""
    if task == "multiclass":
        return MulticlassConfusionMatrix(num_classes=n_labels)
    if task == "binary":
        return BinaryConfusionMatrix()
    return None
