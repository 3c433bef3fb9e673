"""Errors the model side raises: a bad layer spec, and a training loss that stopped being finite."""

from __future__ import annotations

from autolit.errors import UserError


class SpecError(UserError):
    """A mistake in a layer spec; ``path`` names the place, e.g. ``model.layers[4].Linear.in_features``."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def spec_error(path: str, text: str) -> SpecError:
    """Build the usual ``"<path>: <text>"`` SpecError."""
    return SpecError(f"{path}: {text}", path)


def not_a_map(where: str, name: str, args: object) -> SpecError:
    """A layer whose arguments are not a map (``- Backbone: resnet18``)."""
    return spec_error(where, f"arguments must be a map, got {args!r}; fix: write {name}: {{arg: value}} "
                             f"({name}: {{}} for none)")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run cannot recover, so it stops.

    Not a :class:`UserError`: in a search this marks one trial as failed and the study goes on.
    """


def fmt_shape(shape: tuple[int, ...], batch: bool = False) -> str:
    """``(1, 28, 28)``, or ``(B, 1, 28, 28)`` with ``batch=True``."""
    dims = (["B"] if batch else []) + [str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
