"""The layer registry: the only names a layer spec may use, and the Residual block.

A spec names layers by string; this plain dict maps each allowed name to its ``torch.nn``
class. Nothing else is ever looked up: no ``eval``, ``exec`` or import strings from a spec,
so a config file can build networks but never run code.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from autolit.modules.backbone import Backbone


class Residual(nn.Module):
    """``output = x + body(x)``: a skip connection around a small stack of layers.

    The spec builder checks on the meta device that ``body`` keeps the shape, so a mismatch is
    reported at build time with the layer path instead of as a broadcasting error mid-training.
    """

    def __init__(self, body: Iterable[nn.Module] | nn.Sequential) -> None:
        super().__init__()
        self.body = body if isinstance(body, nn.Sequential) else nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the input to the body's output (same shape)."""
        # the spec builder refuses inplace layers in a body: they could overwrite x before the add
        return x + self.body(x)


LAYERS: dict[str, type[nn.Module]] = {
    "Conv1d": nn.Conv1d,
    "Conv2d": nn.Conv2d,
    "Linear": nn.Linear,
    "BatchNorm1d": nn.BatchNorm1d,
    "BatchNorm2d": nn.BatchNorm2d,
    "LayerNorm": nn.LayerNorm,
    "GroupNorm": nn.GroupNorm,
    "Dropout": nn.Dropout,
    "Dropout2d": nn.Dropout2d,
    "ReLU": nn.ReLU,
    "GELU": nn.GELU,
    "SiLU": nn.SiLU,
    "LeakyReLU": nn.LeakyReLU,
    "Tanh": nn.Tanh,
    "Sigmoid": nn.Sigmoid,
    "MaxPool2d": nn.MaxPool2d,
    "AvgPool2d": nn.AvgPool2d,
    "AdaptiveAvgPool2d": nn.AdaptiveAvgPool2d,
    "Flatten": nn.Flatten,
    "Identity": nn.Identity,
    "Residual": Residual,
    "Backbone": Backbone,   # a pretrained timm / torchvision network (autolit.modules.backbone)
}

# Per-sample input rank each layer accepts (batch dim excluded); None = any rank.
# Checked before the meta forward so the message can name the fix (e.g. "add Flatten").
INPUT_RANKS: dict[str, tuple[int, ...] | None] = {
    "Conv1d": (2,),             # (C, L)
    "Conv2d": (3,),             # (C, H, W)
    "Linear": (1,),             # (F,) — refuse images: Linear would mix only the W axis
    "BatchNorm1d": (1, 2),      # (F,) or (C, L)
    "BatchNorm2d": (3,),
    "GroupNorm": (1, 2, 3),
    "Dropout2d": (3,),
    "MaxPool2d": (3,),
    "AvgPool2d": (3,),
    "AdaptiveAvgPool2d": (3,),
}



def valid_layers() -> str:
    """Comma-separated registry names, for error messages."""
    return ", ".join(sorted(LAYERS))
