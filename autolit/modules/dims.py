"""Dimension resolution: fill the widths a layer can read off its input shape.

A pure function of (layer name, its arguments, the per-sample input shape, n_labels) with no
torch in it, so it is tested on its own. The spec walker carries the running shape from one
layer to the next and calls :func:`resolve_dims` for each layer (the optuna example's
``input_dim = output_dim``, made automatic).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autolit.modules.errors import fmt_shape, spec_error

Shape = tuple[int, ...]
AUTO = "auto"
N_LABELS = "n_labels"


@dataclass(frozen=True)
class AutoDim:
    """How one argument follows from the input shape."""

    fill: Callable[[Shape], Any]            # the value to use when omitted / auto
    fits: Callable[[Any, Shape], bool]      # does an explicit value agree with the shape?


def _first(shape: Shape) -> int:
    return shape[0]


def _layer_norm_shape(shape: Shape) -> int | list[int]:
    # normalise over the whole sample: (F,) → F, (C, H, W) → [C, H, W]
    return shape[0] if len(shape) == 1 else list(shape)


def _is_suffix(value: Any, shape: Shape) -> bool:
    dims = [value] if isinstance(value, int) else list(value)
    return 0 < len(dims) <= len(shape) and tuple(dims) == shape[len(shape) - len(dims):]


_CHANNELS = AutoDim(_first, lambda v, s: v == s[0])

AUTO_DIMS: dict[str, dict[str, AutoDim]] = {
    "Conv1d": {"in_channels": _CHANNELS},
    "Conv2d": {"in_channels": _CHANNELS},
    "Linear": {"in_features": AutoDim(lambda s: s[-1], lambda v, s: v == s[-1])},
    "BatchNorm1d": {"num_features": _CHANNELS},
    "BatchNorm2d": {"num_features": _CHANNELS},
    "GroupNorm": {"num_channels": _CHANNELS},
    "LayerNorm": {"normalized_shape": AutoDim(_layer_norm_shape, _is_suffix)},
}


def resolve_dims(name: str, args: dict[str, Any], shape: Shape, n_labels: int | None,
                 where: str) -> dict[str, Any]:
    """Return a copy of ``args`` with every auto/omitted dimension and ``n_labels`` filled in.

    Args:
        name: registry name of the layer (e.g. ``"Conv2d"``).
        args: the layer's arguments as written in the spec.
        shape: per-sample input shape at this layer, batch dim excluded, e.g. ``(1, 28, 28)``.
        n_labels: the width ``n_labels`` stands for (None: unknown, so using it is an error).
        where: the layer's path for messages, e.g. ``model.layers[2].Conv2d``.

    Raises:
        SpecError: an explicit dimension that disagrees with the shape, ``auto`` on an argument
            that cannot be resolved, ``n_labels`` when it is unknown, or a typo of either word.
    """
    autos = AUTO_DIMS.get(name, {})
    out = {key: _substitute(key, value, n_labels, autos, f"{where}.{key}") for key, value in args.items()}
    for key, rule in autos.items():
        value = out.get(key, AUTO)
        if value == AUTO:
            out[key] = rule.fill(shape)
        elif _is_dim(value) and not rule.fits(value, shape):
            raise spec_error(
                f"{where}.{key}",
                f"is {value!r} but the input there has shape {fmt_shape(shape)}, which needs "
                f"{rule.fill(shape)!r}; fix: omit {key} (or write {key}: auto) so it is resolved")
    return out


def _is_dim(value: Any) -> bool:
    ints = value if isinstance(value, list) else [value]
    return bool(ints) and all(isinstance(v, int) and not isinstance(v, bool) for v in ints)


def _substitute(key: str, value: Any, n_labels: int | None, autos: dict[str, AutoDim],
                path: str) -> Any:
    """Replace ``n_labels``; refuse ``auto`` where nothing resolves it and near-misses of both words."""
    if not isinstance(value, str):
        return value
    if value == N_LABELS:
        if n_labels is None:
            raise spec_error(path, "uses n_labels but the number of labels is not known here; "
                                   "fix: pass n_labels (the fit CLI links it from data.n_labels)")
        return n_labels
    if value == AUTO:
        if key not in autos:
            resolvable = ", ".join(autos) or "nothing on this layer"
            raise spec_error(path, f"'auto' cannot be resolved for {key} (auto works for: "
                                   f"{resolvable}); fix: give {key} a value")
        return value
    close = difflib.get_close_matches(value, [N_LABELS, AUTO], n=1, cutoff=0.7)
    if close:
        raise spec_error(path, f"unknown value {value!r} (did you mean {close[0]}?); "
                               f"fix: write {key}: {close[0]}")
    return value
