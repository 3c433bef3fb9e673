"""The loss registry and the early checks on the module's loss arguments.

Losses take what the module's forward gives, already shaped per task:
multiclass ``(B, K)`` logits with ``(B,)`` long targets; binary ``(B,)`` logits with ``(B,)``
float 0/1 targets; regression ``(B,)`` predictions with ``(B,)`` float targets.
Class-weight tensors are non-persistent buffers: they follow the module to its device but stay
out of the state dict, which then holds only the network (the hparams rebuild them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from autolit.errors import UserError, invalid_value, suggest
from autolit.modules.tasks import Task


class CrossEntropy(nn.Module):
    """Cross-entropy with optional label smoothing and class weights."""

    def __init__(self, label_smoothing: float = 0.0, class_weights: Sequence[float] | None = None,
                 **_: object) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("weight", _tensor(class_weights), persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``logits`` (B, K), ``target`` (B,) long → scalar."""
        return F.cross_entropy(logits, target, weight=self.weight,
                               label_smoothing=self.label_smoothing)


class BinaryCrossEntropy(nn.Module):
    """BCE with logits; label smoothing pulls targets towards 0.5; class weights per label index."""

    def __init__(self, label_smoothing: float = 0.0, class_weights: Sequence[float] | None = None,
                 **_: object) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("weight", _tensor(class_weights), persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``logits`` (B,), ``target`` (B,) float 0/1 → scalar (weighted mean, like cross_entropy)."""
        smooth = target * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        loss = F.binary_cross_entropy_with_logits(logits, smooth, reduction="none")  # (B,)
        if self.weight is None:
            return loss.mean()
        w = self.weight[target.long()]  # (B,)
        return (loss * w).sum() / w.sum()


class MSE(nn.Module):
    """Mean squared error."""

    def __init__(self, **_: object) -> None:
        super().__init__()

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``pred`` (B,), ``target`` (B,) → scalar."""
        return F.mse_loss(pred, target)


class Huber(nn.Module):
    """Huber loss: quadratic within ``huber_delta``, linear beyond (robust to outlier targets)."""

    def __init__(self, huber_delta: float = 1.0, **_: object) -> None:
        super().__init__()
        self.delta = huber_delta

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``pred`` (B,), ``target`` (B,) → scalar."""
        return F.huber_loss(pred, target, delta=self.delta)


OWNER = "AutoLitModule"
LOSSES: dict[str, Callable[..., nn.Module]] = {
    "cross_entropy": CrossEntropy,
    "bce": BinaryCrossEntropy,
    "mse": MSE,
    "huber": Huber,
}


def _tensor(values: Sequence[float] | None) -> torch.Tensor | None:
    return None if values is None else torch.tensor([float(v) for v in values])


def check_loss(task: Task, loss: str | None) -> str:
    """Return the loss name (the task's default for None); refuse unknown or mismatched names."""
    if loss is None:
        return task.default_loss
    valid = ", ".join(task.losses)
    if loss not in LOSSES:
        raise UserError(f"model.loss: unknown loss {loss!r}{suggest(str(loss), LOSSES)}; "
                        f"valid losses for task {task.name}: {valid}")
    if loss not in task.losses:
        raise UserError(f"model.loss: loss {loss!r} does not fit task {task.name}; "
                        f"valid losses for task {task.name}: {valid}")
    return loss


def check_loss_args(task: str, n_labels: int | None, label_smoothing: float,
                    class_weights: Sequence[float] | None, huber_delta: float) -> None:
    """Refuse loss arguments that are out of range or do not fit the task / label count (``None``: not known yet)."""
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0 <= label_smoothing < 1:
        raise invalid_value("model.label_smoothing", label_smoothing, OWNER, "a number in [0, 1) (0 turns it off)",
                            "0.1")
    if task == "regression" and label_smoothing:
        raise UserError(f"model.label_smoothing is {label_smoothing} but task regression has no "
                        f"labels to smooth; fix: remove label_smoothing")
    if class_weights is not None:
        _check_class_weights(task, n_labels, class_weights)
    if isinstance(huber_delta, bool) or not isinstance(huber_delta, (int, float)) or not 0 < huber_delta < math.inf:
        raise invalid_value("model.huber_delta", huber_delta, OWNER, "a finite number > 0", "1.0")


def _check_class_weights(task: str, n_labels: int | None, weights: Sequence[float]) -> None:
    if task == "regression":
        raise UserError("model.class_weights is set but task regression has no classes; "
                        "fix: remove class_weights")
    if not isinstance(weights, (list, tuple)):
        count = f"{n_labels} numbers" if n_labels else "numbers"
        raise invalid_value("model.class_weights", weights, OWNER, f"a list of {count}, one per label in label order",
                            "[1.0, 2.0]")
    if n_labels is not None and len(weights) != n_labels:
        raise UserError(f"model.class_weights has {len(weights)} values but there are {n_labels} "
                        f"labels; fix: give one weight per label, in label order")
    if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and 0 <= w < math.inf for w in weights) \
            or not any(weights):
        raise invalid_value("model.class_weights", list(weights), OWNER, "finite numbers >= 0, not all zero",
                            "[1.0, 2.0] (the second label counts double)")
