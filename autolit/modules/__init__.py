"""Model side: the layer registry, spec → network builder, presets, tasks, and AutoLitModule.

Imports nothing else of autolit (but :mod:`autolit.errors`): it knows no store, CLI or Optuna.
Names are loaded on first use (PEP 562): predict reads :data:`TASKS` without importing torch, and
spec-only users (search-space checks) do not pay for Lightning.
"""

from __future__ import annotations

from autolit import lazy_exports

_EXPORTS = {
    "LAYERS": "layers", "Residual": "layers", "LOSSES": "losses", "PRESETS": "presets",
    "TASKS": "tasks", "Task": "tasks", "get_task": "tasks",
    "NonFiniteLossError": "errors", "SpecError": "errors",
    "build_network": "spec", "count_parameters": "spec", "output_shape": "spec", "resolve_spec": "spec",
    "AutoLitModule": "module", "Backbone": "backbone",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
