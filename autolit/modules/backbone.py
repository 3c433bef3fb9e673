"""``Backbone``: a pretrained timm / torchvision network as one layer of a spec.

    - Backbone: {name: tf_efficientnet_lite0, weights: imagenet, trainable: last:2}   # (B, 3, H, W) -> (B, 1280)
    - Dropout: {p: 0.2}
    - Linear: {out_features: n_labels}

``weights``: ``imagenet`` | ``none`` | a file (:mod:`autolit.modules.weights`). ``trainable``:
``all`` | ``none`` | ``last:N``, counted in the architecture's blocks from the top
(:func:`autolit.modules.archs.arch_blocks`); the other blocks keep ``requires_grad=False`` and their
BatchNorm layers stay in eval mode, so their running statistics never move. ``set_head_only``
freezes the trainable blocks too, for the first ``model.freeze_epochs`` (fastai's ``fine_tune``).

The spec walker traces a Backbone on the meta device (:func:`resolve_backbone`): the architecture is
built there with random meta weights, so shape checks, parameter counts and search feasibility never
read a weights file or touch the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from autolit.errors import one_line
from autolit.modules.archs import arch_blocks, build_arch, find_library
from autolit.modules.errors import fmt_shape, not_a_map, spec_error
from autolit.modules.weights import IMAGENET, build_with_weights, check_weights_value, is_pretrained

ARGS = ("name", "weights", "trainable", "library", "in_chans")
# what other libraries call these: the hint names ours instead of the closest spelling
_ALIASES = {"pretrained": "weights", "freeze": "trainable", "frozen": "trainable", "arch": "name",
            "model": "name", "model_name": "name", "source": "library"}
_LAST = re.compile(r"^last:(\d+)$")
_META_BATCH = 2


class Backbone(nn.Module):
    """A pretrained feature extractor, ``(B, C, H, W) -> (B, F)``, with block-wise freezing.

    Args:
        name: architecture name in timm's or torchvision's registry.
        weights: ``imagenet``, ``none`` or the path of a weights file.
        trainable: ``all``, ``none`` or ``last:N`` (blocks from the top).
        library: ``timm`` | ``torchvision`` (None: timm if it has the name).
        in_chans: input channels (the spec walker fills it from the input shape).
        load_weights: False builds the architecture only (a checkpoint's state dict holds the
            weights); weights are never loaded on the meta device.
        where: the layer's place in the config, for messages.
    """

    def __init__(self, name: str, weights: str = IMAGENET, trainable: str = "all",
                 library: str | None = None, in_chans: int = 3, *, load_weights: bool = True,
                 where: str = "Backbone") -> None:
        super().__init__()
        self.library = find_library(name, library, where)
        self.arch, self.weights, self.trainable = name, check_weights_value(weights, where), trainable
        on_meta = torch.empty(0).device.type == "meta"
        if load_weights and is_pretrained(weights) and not on_meta:
            self.model = build_with_weights(self.library, name, in_chans, weights, where)
        else:
            self.model = _build(self.library, name, in_chans, where)
        blocks = arch_blocks(self.model, self.library)
        self.n_blocks = len(blocks)
        top = parse_trainable(trainable, self.n_blocks, where)
        self._trainable = set().union(*blocks[self.n_blocks - top:]) if top else set()
        self.head_only = False
        self._set_requires_grad()
        self.train(self.training)  # frozen norms start in eval: Lightning does not call .train() at fit start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) -> pooled features (B, F)."""
        return self.model(x)

    def train(self, mode: bool = True) -> Backbone:
        """Train mode everywhere except the BatchNorm layers of frozen blocks (statistics frozen)."""
        super().train(mode)
        if mode:
            for norm in self._frozen_norms():
                norm.eval()
        return self

    def set_head_only(self, head_only: bool) -> None:
        """Freeze every block (True) or only the non-trainable ones (False); norms follow."""
        if head_only != self.head_only:
            self.head_only = head_only
            self._set_requires_grad()
        self.train(self.training)

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The parameters ``trainable`` lets train (the optimizer's backbone group)."""
        return [p for n, p in self.model.named_parameters() if n in self._trainable]

    def _set_requires_grad(self) -> None:
        for name, param in self.model.named_parameters():
            param.requires_grad_(not self.head_only and name in self._trainable)

    def _frozen_norms(self) -> Iterator[_BatchNorm]:
        for name, module in self.model.named_modules():
            if isinstance(module, _BatchNorm):
                live = not self.head_only and f"{name}.weight" in self._trainable
                if not live:  # affine-free norms count as frozen: nothing of theirs trains
                    yield module

    def extra_repr(self) -> str:
        return (f"{self.library}:{self.arch}, weights={self.weights}, trainable={self.trainable} "
                f"({len(self.backbone_parameters())} tensors)")


def _build(library: str, name: str, in_chans: int, where: str) -> nn.Module:
    try:
        return build_arch(library, name, in_chans)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise spec_error(where, f"cannot build {library} {name}: {one_line(str(exc))}; "
                                f"fix: pick another architecture") from None


def parse_trainable(value: Any, n_blocks: int, where: str) -> int:
    """``all`` | ``none`` | ``last:N`` -> how many blocks from the top train."""
    if value == "all":
        return n_blocks
    if value == "none":
        return 0
    match = _LAST.match(value) if isinstance(value, str) else None
    if match and int(match.group(1)) <= n_blocks:
        return int(match.group(1))
    raise spec_error(f"{where}.trainable", f"must be all, none or last:N with N in 0..{n_blocks} (this "
                                           f"architecture has {n_blocks} blocks), got {value!r}; "
                                           f"fix: e.g. trainable: last:2")


def resolve_backbone(args: dict[str, Any], shape: tuple[int, ...],
                     where: str) -> tuple[dict[str, Any], tuple[int, ...]]:
    """Check a Backbone entry, fill ``library`` and ``in_chans``; return it and its output shape."""
    from autolit.errors import suggest

    for key in args:
        if key not in ARGS:
            hint = f" (did you mean '{_ALIASES[key]}'?)" if key in _ALIASES else suggest(str(key), ARGS)
            raise spec_error(f"{where}.{key}", f"unknown argument {key!r} for Backbone{hint}; "
                                               f"valid arguments: {', '.join(ARGS)}")
    if "name" not in args:
        raise spec_error(where, "Backbone needs name; fix: add name: tf_efficientnet_lite0 (any timm or "
                                "torchvision architecture)")
    if len(shape) != 3:
        raise spec_error(where, f"Backbone needs image input (B, C, H, W) but the input there is "
                                f"{fmt_shape(shape, batch=True)}; fix: put Backbone first")
    library = find_library(args["name"], args.get("library"), where)
    in_chans = args.get("in_chans", "auto")
    if in_chans == "auto":
        in_chans = shape[0]
    if in_chans != shape[0] or (library == "torchvision" and in_chans != 3):
        need = 3 if library == "torchvision" else shape[0]
        raise spec_error(f"{where}.in_chans", f"is {in_chans!r} but the input has {shape[0]} channels "
                                              f"({library} {args['name']} takes {need}); fix: set "
                                              f"data.channels: 3 and leave in_chans out")
    resolved = {"name": args["name"], "weights": check_weights_value(args.get("weights", IMAGENET), where),
                "trainable": args.get("trainable", "all"), "library": library, "in_chans": in_chans}
    n_blocks, out = _meta_trace(library, args["name"], shape, where)
    parse_trainable(resolved["trainable"], n_blocks, where)
    return resolved, out


@lru_cache(maxsize=64)
def _meta_trace(library: str, name: str, shape: tuple[int, ...], where: str) -> tuple[int, tuple[int, ...]]:
    """(block count, per-sample output shape) of the architecture, built and run on meta."""
    with torch.device("meta"):
        model = _build(library, name, shape[0], where)
    try:
        y = model(torch.empty((_META_BATCH, *shape), device="meta"))  # (B, C, H, W) -> (B, F)
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise spec_error(where, f"{name} fails on input {fmt_shape(shape)}: "
                                f"{one_line(str(exc), 160)}; fix: use a larger data.image_size "
                                f"(its weights expect the size in the pretrained config)") from None
    if not isinstance(y, torch.Tensor) or y.dim() != 2:
        raise spec_error(where, f"{name} does not return one (B, features) tensor; fix: pick another "
                                f"architecture")
    return len(arch_blocks(model, library)), tuple(y.shape[1:])


def find_backbones(net: nn.Module) -> list[Backbone]:
    """Every Backbone in a network."""
    return [m for m in net.modules() if isinstance(m, Backbone)]


def backbone_preprocessing(layers: Any, *, channels: int | None = None) -> dict[str, Any] | None:
    """``image_size``, ``channels``, ``mean``, ``std`` of a spec's first pretrained Backbone, else None.

    Read from the weights' pretrained config by name (no weights file, no network), so the data can
    be prepared the way the weights were trained before anything is built. ``channels``: the data's
    channel count when the config sets it (``data.channels``). The Backbone takes its ``in_chans``,
    else the data's, else 3 (grey stores are then fed as RGB); with 1 the RGB statistics are
    averaged, as timm sums the pretrained stem over RGB for ``in_chans=1``.
    """
    for i, entry in enumerate(layers if isinstance(layers, list) else []):
        if not (isinstance(entry, dict) and len(entry) == 1 and "Backbone" in entry):
            continue
        from autolit.modules.weights import pretrained_preprocessing

        where = f"model.layers[{i}].Backbone"
        args = entry["Backbone"] if entry["Backbone"] is not None else {}
        if not isinstance(args, dict):  # this runs before the spec walker, which would say the same
            raise not_a_map(where, "Backbone", args)
        if not is_pretrained(str(args.get("weights", IMAGENET))):
            return None
        pre = pretrained_preprocessing(find_library(args.get("name"), args.get("library"), where),
                                       args["name"])
        given = args.get("in_chans")
        n = given if isinstance(given, int) else channels if isinstance(channels, int) else 3
        if n != 3:  # grey: one channel of averaged statistics (timm sums the stem's RGB weights)
            pre["mean"], pre["std"] = [sum(pre["mean"]) / 3], [sum(pre["std"]) / 3]
        return {**pre, "channels": n}
    return None
