"""The three tasks, each defined once: head width, losses, output transform, metrics, monitor.

Every reader of a task goes through :data:`TASKS` (the module, the fit CLI's checkpointing, the
search's feasibility check and default metric, export's verification and predict), so a head or
an output convention cannot drift between training and deployment.

Conventions, with ``K = n_labels``:

* the network ends in ``(B, head)`` logits: ``K`` for multiclass, ``1`` for binary and regression;
* :meth:`Task.outputs` turns them into what every consumer sees, still ``(B, head)``: class
  probabilities (softmax), ``P(label 1)`` (sigmoid) or the predicted value;
* metrics take those outputs (``(B,)`` for a one-column head) and the ``(B,)`` targets.

This file imports neither torch nor torchmetrics at module level: predict (ONNX Runtime) reads the
numpy side (:meth:`Task.class_probabilities`, :meth:`Task.top1`) without paying for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from autolit.errors import UserError, suggest

if TYPE_CHECKING:
    import torch
    from torchmetrics import Metric, MetricCollection


@dataclass(frozen=True)
class Task:
    """One task: how its head, loss, outputs and metrics are defined."""

    name: str
    losses: tuple[str, ...]          # the first is the default
    metrics: tuple[str, ...]         # logged as val/<name> and test/<name>
    monitor: str                     # the metric best checkpoints and searches are judged by
    mode: str                        # "max" | "min"
    classification: bool

    @property
    def default_loss(self) -> str:
        return self.losses[0]

    @property
    def direction(self) -> str:
        """Optuna's spelling of :attr:`mode`."""
        return "maximize" if self.mode == "max" else "minimize"

    def head_width(self, n_labels: int | None) -> int:
        """Width of the network's last layer: ``n_labels`` for multiclass, else 1."""
        return int(n_labels) if self.name == "multiclass" else 1

    def n_outputs(self, n_labels: int | None) -> int:
        """Label count the metrics see: ``n_labels``, 2 for binary, 1 for regression."""
        return {"multiclass": n_labels, "binary": 2, "regression": 1}[self.name]

    # ---- torch side (training, export) ------------------------------------------------------
    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B, head)`` logits → ``(B, head)`` probabilities / P(label 1) / values."""
        import torch

        if self.name == "multiclass":
            return torch.softmax(logits, dim=-1)
        if self.name == "binary":
            return torch.sigmoid(logits)
        return logits

    def loss_inputs(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the loss takes: ``(B, K)`` logits + long ``(B,)``, or ``(B,)`` + float ``(B,)``."""
        if self.name == "multiclass":
            return logits, y.long().view(-1)
        return logits.squeeze(-1), y.float().view(-1)

    def metric_inputs(self, outputs: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`outputs` and targets as the metrics take them (one-column heads squeezed)."""
        if self.name == "multiclass":
            return outputs, y.long().view(-1)
        if self.name == "binary":
            return outputs.squeeze(-1), y.long().view(-1)
        return outputs.squeeze(-1), y.float().view(-1)

    def build_metrics(self, n_labels: int | None, stage: str) -> MetricCollection:
        """torchmetrics for ``stage`` ("val" | "test"), named ``<stage>/<metric>``."""
        from autolit.modules.metrics import build_metrics

        return build_metrics(self.name, self.n_outputs(n_labels), stage)

    def build_confusion(self, n_labels: int | None) -> Metric | None:
        """Confusion matrix for classification tasks, else None."""
        from autolit.modules.metrics import build_confusion

        return build_confusion(self.name, self.n_outputs(n_labels))

    # ---- numpy side (predict, export checks) -------------------------------------------------
    def class_probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """``(B, head)`` outputs → ``(B, n_labels)`` probabilities (binary: ``[1 - p, p]``)."""
        if not self.classification:
            raise ValueError("regression outputs are values, not class probabilities")
        if self.name == "binary":
            p = outputs[:, 0]
            return np.stack([1.0 - p, p], axis=1)
        return outputs

    def top1(self, outputs: np.ndarray) -> np.ndarray:
        """Predicted class per row (regression: the rounded value, for agreement counts only)."""
        if self.name == "binary":
            return (outputs[:, 0] >= 0.5).astype(np.int64)
        if self.name == "multiclass":
            return outputs.argmax(axis=1)
        return np.rint(outputs[:, 0]).astype(np.int64)


TASKS: dict[str, Task] = {
    "multiclass": Task("multiclass", ("cross_entropy",), ("acc", "f1"), "val/acc", "max", True),
    "binary": Task("binary", ("bce",), ("acc", "f1", "auroc"), "val/acc", "max", True),
    "regression": Task("regression", ("mse", "huber"), ("mae", "rmse", "r2"), "val/mae", "min", False),
}


def get_task(name: Any, where: str = "model.task") -> Task:
    """The task called ``name``; an unknown name lists the valid ones."""
    if name not in TASKS:
        raise UserError(f"{where}: unknown task {name!r}{suggest(str(name), TASKS)}; "
                        f"valid tasks: {', '.join(TASKS)}")
    return TASKS[name]


def logged_metrics(task: Task, stage: str = "val") -> list[str]:
    """Every metric a fit of ``task`` logs for ``stage``: the loss, then the task's metrics."""
    return [f"{stage}/loss", *(f"{stage}/{m}" for m in task.metrics)]
