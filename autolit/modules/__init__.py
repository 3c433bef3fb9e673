"""Model side: the layer registry, spec → network builder, presets, and AutoLitModule.

Imports nothing else of autolit (but :mod:`autolit.errors`): it knows no store, CLI or Optuna.
"""

from __future__ import annotations

from autolit.modules.errors import NonFiniteLossError, SpecError
from autolit.modules.layers import LAYERS, Residual
from autolit.modules.losses import LOSSES, TASKS
from autolit.modules.module import AutoLitModule
from autolit.modules.presets import PRESETS
from autolit.modules.spec import build_network, count_parameters, output_shape, resolve_spec

__all__ = [
    "LAYERS", "LOSSES", "PRESETS", "TASKS", "AutoLitModule", "NonFiniteLossError", "Residual",
    "SpecError", "build_network", "count_parameters", "output_shape", "resolve_spec",
]
