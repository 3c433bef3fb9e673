"""What deploy adds to a rebuilt checkpoint: its own record of itself, and the exported predictor.

Loading and rebuilding (weights-only, every failure a clear error) is
:mod:`autolit.modules.checkpoint`, shared with ``autolit.fit --ckpt_path``.
"""

from __future__ import annotations

from typing import Any

import torch


def checkpoint_metrics(ckpt: dict[str, Any]) -> dict[str, Any]:
    """What the checkpoint says about itself: epoch, step, monitored score(s), Lightning version."""
    info: dict[str, Any] = {"epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"),
                            "lightning_version": ckpt.get("pytorch-lightning_version")}
    for name, state in (ckpt.get("callbacks") or {}).items():
        if not (isinstance(name, str) and name.startswith("ModelCheckpoint") and isinstance(state, dict)):
            continue
        score = state.get("best_model_score")
        if state.get("monitor") and score is not None:
            info["monitor"] = state["monitor"]
            info["best_model_score"] = float(score)
    return info


class Predictor(torch.nn.Module):
    """The trained network followed by its task's output transform (:meth:`Task.outputs`).

    This is what every export format holds and what verification compares against: probabilities
    ``(B, K)``, ``P(label 1)`` ``(B, 1)`` or values ``(B, 1)``, so every runtime yields the same
    numbers without extra code.
    """

    def __init__(self, net: torch.nn.Module, task: Any) -> None:
        super().__init__()
        self.net = net
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, head)
        return self.task.outputs(self.net(x))


def predictor(model: torch.nn.Module, ckpt: dict[str, Any] | None = None) -> Predictor:
    """Wrap a rebuilt ``AutoLitModule`` (eval mode, CPU) for export.

    With ``ckpt``, the network's weights take the memory order training left them in: a model
    trained with ``model.channels_last`` saved its convolution weights NHWC, and its depthwise
    convolutions run ~1.5x faster on the CPU so (the checkpoint's own check and the traced
    model.pt; ONNX stores plain arrays either way). Memory order does not change the outputs
    beyond kernel rounding.
    """
    if ckpt is not None and trained_channels_last(ckpt):
        model.net.to(memory_format=torch.channels_last)
    return Predictor(model.net, model.task_def).eval()


def trained_channels_last(ckpt: dict[str, Any]) -> bool:
    """Whether the checkpoint's 4-d weights were saved channels-last (``model.channels_last: true``)."""
    # only the tensors whose two layouts differ tell (a depthwise (C, 1, 3, 3) or 1x1 kernel is both)
    telling = [t for t in (ckpt.get("state_dict") or {}).values() if isinstance(t, torch.Tensor) and t.dim() == 4
               and t.is_contiguous() != t.is_contiguous(memory_format=torch.channels_last)]
    return bool(telling) and all(t.is_contiguous(memory_format=torch.channels_last) for t in telling)
