"""Backbone architectures by name from the libraries' own registries: timm and torchvision.

A name is looked up in ``timm.list_models()`` / ``timm.is_model`` (tags such as
``resnet18.a1_in1k`` included) and in ``torchvision.models.list_models()`` (classification models);
never imported from a string. :func:`build_arch` returns the network as a feature extractor
(``(B, C, H, W) -> (B, F)``: timm with ``num_classes=0``, torchvision with its last ``Linear``
replaced by ``Identity``), and :func:`arch_blocks` splits it into the blocks ``trainable: last:N``
counts from the top.

timm and torchvision are imported on first use: ``import timm`` costs seconds, and a spec without a
backbone (or predict on ONNX Runtime) should not pay for it.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

from torch import nn

from autolit.modules.errors import spec_error

LIBRARIES = ("timm", "torchvision")


@lru_cache(maxsize=1)
def _timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


@lru_cache(maxsize=1)
def _torchvision_names() -> tuple[str, ...]:
    import torchvision.models

    return tuple(torchvision.models.list_models(module=torchvision.models))


def _in_timm(name: str) -> bool:
    import timm

    return timm.is_model(name)


def find_library(name: object, library: object, where: str) -> str:
    """The library that provides architecture ``name`` (``library`` given: check it has it).

    timm first when both have the name (``resnet18``); ``library: torchvision`` picks the other.
    An unknown name lists the closest names of both registries.
    """
    if not isinstance(name, str) or not name:
        raise spec_error(f"{where}.name", f"must be an architecture name like tf_efficientnet_lite0 or "
                                          f"resnet18, got {name!r}")
    if library not in (None, "auto", *LIBRARIES):
        raise spec_error(f"{where}.library", f"unknown library {library!r}; valid: auto, "
                                             f"{', '.join(LIBRARIES)}")
    found = {"timm": _in_timm(name), "torchvision": name in _torchvision_names()}
    if library in LIBRARIES:
        if not found[library]:
            raise spec_error(f"{where}.name", f"{library} has no architecture {name!r}"
                                              f"{_close(name, library)}; fix: use one of its names")
        return str(library)
    for lib in LIBRARIES:
        if found[lib]:
            return lib
    raise spec_error(f"{where}.name", f"unknown architecture {name!r}{_close(name, None)}; names come "
                                      f"from timm.list_models() and torchvision.models.list_models()")


def _close(name: str, library: str | None) -> str:
    """`` (close matches: a, b, c)`` from the registries, or ``""``."""
    pool: list[str] = []
    if library in (None, "timm"):
        pool += _timm_names()
    if library in (None, "torchvision"):
        pool += [n for n in _torchvision_names() if n not in pool]
    close = difflib.get_close_matches(name.split(".")[0], pool, n=5, cutoff=0.6)
    return f" (close matches: {', '.join(close)})" if close else ""


def build_arch(library: str, name: str, in_chans: int) -> nn.Module:
    """The architecture with random weights, as a ``(B, in_chans, H, W) -> (B, F)`` feature extractor."""
    if library == "timm":
        import timm

        return timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
    return strip_head(torchvision_model(name))


def torchvision_model(name: str) -> nn.Module:
    """torchvision's classification model ``name`` with its ImageNet head (random weights)."""
    import torchvision.models

    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    return torchvision.models.get_model(name, weights=None, **kwargs)


def strip_head(model: nn.Module) -> nn.Module:
    """Replace the last ``Linear`` (the ImageNet classifier) by ``Identity``: the output is the features."""
    last = None
    for qualified, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = qualified
    if last is None:
        raise ValueError("it has no Linear classifier to remove (e.g. squeezenet); use a timm model")
    parent_name, _, child = last.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, nn.Identity())
    return model


def arch_blocks(model: nn.Module, library: str) -> list[set[str]]:
    """Parameter names per block, bottom (stem) to top; ``trainable: last:N`` takes the last N.

    timm: the model's own coarse groups (``group_matcher(coarse=True)``, the ones its layer-wise LR
    decay uses: for EfficientNet the stem, then one group per stage, the head conv in the last).
    torchvision: the top-level children that hold parameters, with ``nn.Sequential`` children
    (ResNet's ``layer1``..., MobileNet's ``features``) split into their elements.
    """
    if library == "timm" and hasattr(model, "group_matcher"):
        from timm.models import group_parameters

        groups = group_parameters(model, model.group_matcher(coarse=True))
        return [set(names) for names in groups.values() if names]
    return _child_blocks(model)


def _child_blocks(model: nn.Module) -> list[set[str]]:
    prefixes: list[str] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential) and len(child) > 1:
            prefixes += [f"{name}.{sub}" for sub, _ in child.named_children()]
        else:
            prefixes.append(name)
    blocks: list[set[str]] = [set() for _ in prefixes]
    for pname, _ in model.named_parameters():
        owner = next((i for i, p in enumerate(prefixes) if pname.startswith(p + ".")), 0)
        blocks[owner].add(pname)  # parameters of the root itself (a class token) go to the first block
    return [b for b in blocks if b]
