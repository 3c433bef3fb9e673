"""autolit: image store → spec-built Lightning model → Optuna search → exported model."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__version__ = "0.1.0"


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that imports ``package.<exports[name]>`` on first use.

    Rooms expose their public names this way so that importing a light part (the task
    definitions, predict's ONNX path) never pulls in torch or Lightning through the package.
    """
    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
