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


def predictor(model: torch.nn.Module) -> Predictor:
    """Wrap a rebuilt ``AutoLitModule`` (eval mode, CPU) for export."""
    return Predictor(model.net, model.task_def).eval()
