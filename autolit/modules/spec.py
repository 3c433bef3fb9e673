"""Layer spec → ``nn.Sequential``, with every width resolved from the running shape.

A spec is a list of one-key maps, ``[{"Conv2d": {"out_channels": 32, "kernel_size": 3}},
{"ReLU": {}}, ...]``. :func:`resolve_spec` walks it once on the meta device (shapes only, no
memory, no compute): per layer it checks the name and arguments, fills the auto dimensions
(:mod:`autolit.modules.dims`), builds the layer on meta and pushes a meta tensor through it to
learn the next shape. Every mistake becomes a :class:`SpecError` naming the place, e.g.
``model.layers[4].Linear.in_features``, the shape there, the value and the fix.
"""

from __future__ import annotations

import copy
import numbers
from typing import Any

import torch
from torch import nn

from autolit.modules.backbone import Backbone, resolve_backbone
from autolit.modules.checks import check_names, check_required, check_values
from autolit.modules.dims import Shape, resolve_dims
from autolit.modules.errors import SpecError, fmt_shape, not_a_map, spec_error
from autolit.errors import suggest
from autolit.modules.layers import INPUT_RANKS, LAYERS, Residual, valid_layers

__all__ = ["SpecError", "build_network", "count_parameters", "output_shape", "resolve_spec"]

_META_BATCH = 2  # > 1 so BatchNorm's "more than 1 value per channel" train-mode check passes
_RANK_TEXT = {1: "(B, features)", 2: "(B, C, L)", 3: "(B, C, H, W)"}
# layers whose kernel_size/stride/padding/dilation lists hold one value per spatial dimension
_SPATIAL = (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)


def resolve_spec(layers: list[dict], input_shape: tuple[int, ...] | list[int], n_labels: int | None,
                 *, prefix: str = "model.layers") -> list[dict]:
    """Return a fully explicit copy of ``layers``: every auto dimension and ``n_labels`` filled in.

    Args:
        layers: the spec, a list of one-key maps ``{LayerName: {arg: value}}``.
        input_shape: per-sample input shape, e.g. ``[1, 28, 28]`` (C, H, W).
        n_labels: what ``n_labels`` stands for (the head width: 1 for binary/regression).
        prefix: path of ``layers`` in the config, used in messages.

    Raises:
        SpecError: any mistake in the spec, with its path and the fix.
    """
    resolved, _ = _walk(layers, _check_input_shape(input_shape), _check_n_labels(n_labels), prefix)
    return resolved


def output_shape(layers: list[dict], input_shape: tuple[int, ...] | list[int],
                 n_labels: int | None, *, prefix: str = "model.layers") -> Shape:
    """Per-sample output shape of the spec (batch dim excluded), e.g. ``(10,)``."""
    _, shape = _walk(layers, _check_input_shape(input_shape), _check_n_labels(n_labels), prefix)
    return shape


def build_network(layers: list[dict], input_shape: tuple[int, ...] | list[int],
                  n_labels: int | None, *, prefix: str = "model.layers",
                  load_weights: bool = True) -> nn.Sequential:
    """Build the spec as a real (CPU, initialised) ``nn.Sequential``.

    ``load_weights=False`` leaves Backbones with random weights (a checkpoint's state dict follows).
    """
    return _instantiate(resolve_spec(layers, input_shape, n_labels, prefix=prefix), prefix, load_weights)


def count_parameters(layers: list[dict], input_shape: tuple[int, ...] | list[int],
                     n_labels: int | None, *, prefix: str = "model.layers") -> int:
    """Number of parameters, computed on the meta device (no memory), e.g. to cap a search."""
    resolved = resolve_spec(layers, input_shape, n_labels, prefix=prefix)
    with torch.device("meta"):
        net = _instantiate(resolved, prefix, load_weights=False)
    return sum(p.numel() for p in net.parameters())


def _check_input_shape(input_shape: Any) -> Shape:
    ok = isinstance(input_shape, (list, tuple)) and len(input_shape) > 0 and all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape)
    if not ok:
        raise spec_error("model.input_shape", f"must be a list of positive integers like [1, 28, 28] "
                                              f"(C, H, W), got {input_shape!r}; fix: pass the data's "
                                              f"input_shape (the fit CLI links data.input_shape)")
    return tuple(input_shape)


def _check_n_labels(n_labels: Any) -> int | None:
    if n_labels is not None and (not isinstance(n_labels, int) or isinstance(n_labels, bool)
                                 or n_labels < 1):
        raise spec_error("model.n_labels", f"must be a positive integer, got {n_labels!r}; "
                                           f"fix: pass the number of labels in the data")
    return n_labels


def _walk(layers: Any, shape: Shape, n_labels: int | None, prefix: str) -> tuple[list[dict], Shape]:
    """Carry ``shape`` through ``layers``; return the explicit spec and the final shape."""
    if not isinstance(layers, list) or not layers:
        raise spec_error(prefix, f"must be a non-empty list of layers like [{{Conv2d: {{out_channels: "
                                 f"32, kernel_size: 3}}}}, {{ReLU: {{}}}}], got {layers!r}")
    resolved = []
    for i, entry in enumerate(layers):
        where = f"{prefix}[{i}]"
        name, args = _split_entry(entry, where)
        if name == "Residual":
            args, shape = _residual(args, shape, n_labels, f"{where}.Residual")
        elif name == "Backbone":
            args, shape = resolve_backbone(args, shape, f"{where}.Backbone")
        else:
            args, shape = _layer(name, args, shape, n_labels, f"{where}.{name}")
        resolved.append({name: args})
    return resolved, shape


def _split_entry(entry: Any, where: str) -> tuple[str, dict[str, Any]]:
    """``{"Conv2d": {...}}`` → ``("Conv2d", {...})``, refusing anything that is not a one-key map."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise spec_error(where, f"each layer must be a one-key map like {{Conv2d: {{out_channels: 32, "
                                f"kernel_size: 3}}}}, got {entry!r}; fix: write one layer per list item")
    ((name, args),) = entry.items()
    if name not in LAYERS:
        raise SpecError(f"unknown layer {name!r} at {where}{suggest(str(name), LAYERS)}; "
                        f"valid layers: {valid_layers()}", where)
    if args is None:  # YAML `- ReLU:` gives None
        args = {}
    if not isinstance(args, dict):
        raise not_a_map(f"{where}.{name}", name, args)
    return name, {key: _plain(value) for key, value in args.items()}


def _plain(value: Any) -> Any:
    """Deep copy with numeric scalars (e.g. numpy ints from a sampler) as int/float, tuples as lists."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return copy.deepcopy(value)


def _residual(args: dict[str, Any], shape: Shape, n_labels: int | None,
              where: str) -> tuple[dict[str, Any], Shape]:
    """Resolve a Residual's body; its output shape must equal its input shape (x + f(x))."""
    if set(args) != {"layers"}:
        extra = sorted(set(args) - {"layers"})
        raise spec_error(where, f"takes exactly one argument, layers (got {sorted(args) or 'none'}"
                                f"{'; unknown: ' + ', '.join(map(str, extra)) if extra else ''}); "
                                f"fix: write Residual: {{layers: [...]}}")
    body, out = _walk(args["layers"], shape, n_labels, f"{where}.layers")
    _refuse_inplace(body, f"{where}.layers")
    if out != shape:
        raise spec_error(where, f"its layers change the shape from {fmt_shape(shape)} to "
                                f"{fmt_shape(out)}, but x + f(x) needs them equal; fix: keep the "
                                f"channel count ({shape[0]}), use padding: same with stride 1, and "
                                f"no pooling inside the block")
    return {"layers": body}, shape


def _refuse_inplace(body: list[dict], prefix: str) -> None:
    """An inplace op (or one after a view such as Identity/Flatten) could overwrite x before x + f(x)."""
    for i, entry in enumerate(body):
        ((name, args),) = entry.items()
        if args.get("inplace") is True:
            raise spec_error(f"{prefix}[{i}].{name}.inplace",
                             "inplace: true inside a Residual can overwrite the block's input before "
                             "x + f(x) adds it; fix: remove inplace (or set it false) in this block")


def _layer(name: str, args: dict[str, Any], shape: Shape, n_labels: int | None,
           where: str) -> tuple[dict[str, Any], Shape]:
    """Check, resolve and shape-trace one plain layer; return its explicit args and output shape."""
    cls = LAYERS[name]
    check_names(name, cls, args, where)
    _check_rank(name, shape, where)
    args = resolve_dims(name, args, shape, n_labels, where)
    check_required(name, cls, args, where)
    check_values(args, where, spatial=len(shape) - 1 if issubclass(cls, _SPATIAL) else None)
    try:
        with torch.device("meta"):
            module = cls(**args)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise spec_error(where, f"cannot build {name} with {args}: {exc}; fix: adjust the "
                                f"arguments (see torch.nn.{name})") from None
    return args, _trace(name, module, args, shape, where)


def _check_rank(name: str, shape: Shape, where: str) -> None:
    """Refuse an input rank the layer cannot take, with the usual fix."""
    ranks = INPUT_RANKS.get(name)
    if ranks is None or len(shape) in ranks:
        return
    got = fmt_shape(shape, batch=True)
    if name == "Linear":
        raise spec_error(f"{where}.in_features", f"Linear needs flat input (B, features) but the "
                                                 f"input there is {got}; fix: add Flatten before Linear")
    need = " or ".join(_RANK_TEXT.get(r, f"rank {r + 1}") for r in ranks)
    fix = (f"move {name} before Flatten" if len(shape) < min(ranks)
           else f"use the layer for this rank, or add Flatten before {name}")
    raise spec_error(where, f"{name} needs {need} input but the input there is {got}; fix: {fix}")


def _trace(name: str, module: nn.Module, args: dict[str, Any], shape: Shape, where: str) -> Shape:
    """Push a meta tensor through ``module``; return the per-sample output shape."""
    x = torch.empty((_META_BATCH, *shape), device="meta")  # (B, *shape)
    try:
        y = module(x)
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:  # wrong values reach torch's functionals
        raise _rephrase(name, args, shape, where, exc) from None
    if not isinstance(y, torch.Tensor) or y.shape[:1] != (_META_BATCH,):
        raise spec_error(where, f"{name} must keep the batch dimension (dim 0); fix: for Flatten "
                                f"use start_dim >= 1")
    out = tuple(y.shape[1:])
    if 0 in out:
        raise spec_error(where, f"{name} turns input {fmt_shape(shape)} into an empty "
                                f"{fmt_shape(out)}; fix: use a smaller kernel_size/stride")
    return out


def _rephrase(name: str, args: dict[str, Any], shape: Shape, where: str, exc: Exception) -> SpecError:
    """Turn torch's shape errors into one line with the shape there and a fix."""
    text = str(exc)
    if "Kernel size can't be greater" in text or "Output size is too small" in text:
        return spec_error(where, f"kernel_size {args.get('kernel_size')!r} is larger than its input "
                                 f"{fmt_shape(shape)} (padding {args.get('padding', 0)!r}); fix: "
                                 f"remove a pooling layer before it, add padding, or use a smaller "
                                 f"kernel_size")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "invalid combination of arguments" in first:  # torch then lists every overload over lines
        first = f"an argument has a type it does not take ({first.split('(')[0]}() got {args})"
    return spec_error(where, f"{name} fails on input {fmt_shape(shape)}: {first}; fix: adjust "
                             f"its arguments or the layers before it")


def _instantiate(resolved: list[dict], prefix: str, load_weights: bool) -> nn.Sequential:
    """Build modules from an already resolved spec (on the current default device)."""
    modules: list[nn.Module] = []
    for i, entry in enumerate(resolved):
        ((name, args),) = entry.items()
        if name == "Residual":
            modules.append(Residual(_instantiate(args["layers"], f"{prefix}[{i}].Residual.layers", load_weights)))
        elif name == "Backbone":
            modules.append(Backbone(**args, load_weights=load_weights, where=f"{prefix}[{i}].Backbone"))
        else:
            modules.append(LAYERS[name](**args))
    return nn.Sequential(*modules)
