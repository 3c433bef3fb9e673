"""Argument checks for one layer of a spec: known names, required ones present, sane values.

Done before the layer is built so the message names the argument and the fix, instead of a
torch traceback from deep inside ``nn.Conv2d.__init__``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from autolit.errors import suggest
from autolit.modules.errors import spec_error

# Factory arguments a spec never sets: the builder decides placement (meta for shape checks).
_HIDDEN = {"self", "device", "dtype"}


def layer_params(cls: type[nn.Module]) -> dict[str, inspect.Parameter]:
    """The spec-settable constructor parameters of a layer class."""
    params = inspect.signature(cls.__init__).parameters
    return {k: p for k, p in params.items()
            if k not in _HIDDEN and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def check_names(name: str, cls: type[nn.Module], args: dict[str, Any], where: str) -> None:
    """Refuse arguments the layer does not take, listing those it does."""
    params = layer_params(cls)
    for key in args:
        if key not in params:
            valid = ", ".join(params) or "none (write {})"
            raise spec_error(f"{where}.{key}", f"unknown argument {key!r} for {name}"
                                               f"{suggest(str(key), params)}; valid arguments: {valid}")


def check_required(name: str, cls: type[nn.Module], args: dict[str, Any], where: str) -> None:
    """Refuse a layer that lacks an argument without a default (after auto dims are filled)."""
    missing = [k for k, p in layer_params(cls).items() if p.default is p.empty and k not in args]
    if missing:
        example = ", ".join(f"{k}: {_EXAMPLES.get(k, '...')}" for k in missing)
        raise spec_error(where, f"{name} needs {', '.join(missing)}; fix: add {example}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ints(v: Any, low: int, allow_none: bool = False) -> bool:
    """An int >= low, or a non-empty list of them (None allowed inside when asked)."""
    items = v if isinstance(v, list) and v else [v]
    return all((allow_none and x is None) or (_is_int(x) and x >= low) for x in items)


# kind → (test, what it must be, example)
_KINDS: dict[str, tuple[Callable[[Any], bool], str, str]] = {
    "width": (lambda v: _is_int(v) and v >= 1, "a positive integer", "32"),
    "size": (lambda v: _ints(v, 1), "a positive integer or a list of them", "3"),
    "stride": (lambda v: v is None or _ints(v, 1), "a positive integer or a list of them", "2"),
    "padding": (lambda v: v in ("same", "valid") or _ints(v, 0),
                "a non-negative integer, a list of them, 'same' or 'valid'", "1"),
    "out_size": (lambda v: _ints(v, 1, allow_none=True), "a positive integer or a list of them", "1"),
    "prob": (lambda v: _is_num(v) and 0 <= v <= 1, "a number in [0, 1]", "0.5"),
    "number": (_is_num, "a number", "1e-5"),
    "opt_number": (lambda v: v is None or _is_num(v), "a number or null", "0.1"),
    "bool": (lambda v: isinstance(v, bool), "true or false", "true"),
    "int": (_is_int, "an integer", "1"),
    "false": (lambda v: v is False, "false (a layer in a spec must return one tensor)", "false"),
}

ARG_KINDS: dict[str, str] = {
    **dict.fromkeys(["in_channels", "out_channels", "in_features", "out_features", "num_features",
                     "num_channels", "num_groups", "groups"], "width"),
    "kernel_size": "size", "dilation": "size", "stride": "stride", "padding": "padding",
    "output_size": "out_size", "p": "prob",
    "eps": "number", "negative_slope": "number", "momentum": "opt_number",
    **dict.fromkeys(["bias", "affine", "track_running_stats", "inplace", "ceil_mode",
                     "elementwise_affine", "count_include_pad"], "bool"),
    "start_dim": "int", "end_dim": "int", "return_indices": "false",
}

_EXAMPLES = {k: _KINDS[kind][2] for k, kind in ARG_KINDS.items()}
_EXAMPLES["normalized_shape"] = "64"


_SPATIAL_KEYS = ("kernel_size", "stride", "padding", "dilation")


def check_values(args: dict[str, Any], where: str, *, spatial: int | None = None) -> None:
    """Refuse values of the wrong type or range (e.g. ``out_channels: "abc"`` or ``0``).

    ``spatial``: the input's spatial rank for a convolution or pooling (2 for ``(C, H, W)``); a list
    given for one of its kernel_size/stride/padding/dilation must hold that many values (on the meta
    device torch accepts ``kernel_size: [3, 3, 3]`` for Conv2d and fails only at the first real forward).
    """
    for key, value in args.items():
        kind = ARG_KINDS.get(key)
        if kind is None:
            continue  # no rule: the constructor's own error is rephrased by the builder
        test, must_be, example = _KINDS[kind]
        if not test(value):
            raise spec_error(f"{where}.{key}", f"must be {must_be}, got {value!r}; "
                                               f"fix: e.g. {key}: {example}")
        if spatial is not None and key in _SPATIAL_KEYS and isinstance(value, list) and len(value) != spatial:
            raise spec_error(f"{where}.{key}", f"a list needs one value per spatial dimension of the input "
                                               f"({spatial}), got {value!r}; fix: e.g. {key}: "
                                               f"{[value[0]] * spatial} or one number for all")
