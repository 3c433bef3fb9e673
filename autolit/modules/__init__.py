"""Model side: the layer registry, spec → network builder, presets, and AutoLitModule.

Imports nothing else of autolit (but :mod:`autolit.errors`): it knows no store, CLI or Optuna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autolit.modules.errors import NonFiniteLossError, SpecError
from autolit.modules.layers import LAYERS, Residual
from autolit.modules.losses import LOSSES, TASKS
from autolit.modules.presets import PRESETS
from autolit.modules.spec import build_network, count_parameters, output_shape, resolve_spec

if TYPE_CHECKING:
    from autolit.modules.module import AutoLitModule

__all__ = [
    "LAYERS", "LOSSES", "PRESETS", "TASKS", "AutoLitModule", "NonFiniteLossError", "Residual",
    "SpecError", "build_network", "count_parameters", "output_shape", "resolve_spec",
]


def __getattr__(name: str) -> Any:
    # AutoLitModule pulls in lightning + torchmetrics (seconds to import); spec-only users
    # (search-space checks, count_parameters) should not pay for that.
    if name == "AutoLitModule":
        from autolit.modules.module import AutoLitModule
        return AutoLitModule
    raise AttributeError(f"module 'autolit.modules' has no attribute {name!r}")
