"""A fit config admitted section by section, each by the class LightningCLI builds it into.

``trainer`` is walked with ``Trainer``'s parameter types, ``model`` and ``data`` with
``AutoLitModule``'s and ``StoreDataModule``'s, ``optimizer`` and ``lr_scheduler`` as class places
of what LightningCLI registers there (any ``Optimizer``; any ``LRScheduler`` or Lightning's
``ReduceLROnPlateau``). What only autolit knows is checked here: the layer spec's Backbone
(``weights`` is a path unless ``imagenet``/``none``; ``name`` is only ever looked up in timm's and
torchvision's registries, never imported or opened, so only a registry-shaped name is admitted:
``hf-hub:…`` and ``local-dir:…`` names, which timm would fetch or open, are refused here
although the registries refuse them too), ``data.source``/``data.store``, ``ckpt_path``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from autolit.serve.admit.classes import Allowlist, class_at, resolve_class
from autolit.serve.admit.errors import AdmissionError
from autolit.serve.admit.paths import Places
from autolit.serve.admit.slots import Slot
from autolit.serve.admit.sources import admit_source, admit_store
from autolit.serve.admit.values import Walker, scan

SECTIONS = ("seed_everything", "trainer", "model", "data", "optimizer", "lr_scheduler", "ckpt_path", "resolved")
ARCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)?$")  # resnet18, vit_b_16.augreg_in21k
NAMED_WEIGHTS = ("imagenet", "none")


def section_types() -> dict[str, Any]:
    """The class (or class place) behind each section, as LightningCLI registers it."""
    import lightning as L
    import torch
    from lightning.pytorch.cli import ReduceLROnPlateau

    from autolit.datamodules import StoreDataModule
    from autolit.modules import AutoLitModule

    return {"trainer": L.Trainer, "model": (AutoLitModule, L.LightningModule),
            "data": (StoreDataModule, L.LightningDataModule),
            "optimizer": Slot(bases=(torch.optim.Optimizer,)),
            "lr_scheduler": Slot(bases=(torch.optim.lr_scheduler.LRScheduler, ReduceLROnPlateau))}


def admit_fit_config(config: Any, allow: Allowlist, places: Places) -> dict:
    """The fit config to run (a new dict), or an :class:`AdmissionError`."""
    scan(config)
    if not isinstance(config, dict):
        raise AdmissionError("config", config, "is not a mapping of sections", "send trainer:, model:, data:, ...")
    for key in config:
        if key == "config":
            raise AdmissionError(key, config[key], "makes LightningCLI read another config file",
                                 "send the whole config in one body")
        if key not in SECTIONS:
            raise AdmissionError(key, config[key], "is not a fit config section", f"use {', '.join(SECTIONS)}")
    walker, types = Walker(allow, places), section_types()
    out = copy.deepcopy(config)
    if isinstance(out.get("seed_everything"), (str, dict, list)):
        raise AdmissionError("seed_everything", out["seed_everything"], "is not a seed", "give an integer or true")
    if out.get("trainer") is not None:
        out["trainer"] = walker.args(types["trainer"], _group(out["trainer"], "trainer"), "trainer")
    if out.get("model") is not None:
        out["model"] = _class_group(walker, out["model"], "model", *types["model"], _model)
    if out.get("data") is not None:
        out["data"] = _class_group(walker, out["data"], "data", *types["data"], _data)
    for section in ("optimizer", "lr_scheduler"):
        if out.get(section) is not None:
            out[section] = walker.value(out[section], types[section], section)
    if out.get("ckpt_path") not in (None, "last"):
        out["ckpt_path"] = places.read(out["ckpt_path"], "ckpt_path")
    if out.get("resolved") is not None:
        out["resolved"] = walker.free(out["resolved"], "resolved")
    return out


def _group(value: Any, key: str) -> dict:
    if not isinstance(value, dict):
        raise AdmissionError(key, value, "is not a mapping (a string here is read as a config file)",
                             f"write the {key} section's keys under {key}:")
    return value


def _class_group(walker: Walker, value: Any, key: str, cls: type, base: type, special: Any) -> dict:
    """``model``/``data``: the class's arguments, or ``{class_path, init_args}`` naming that class."""
    value = _group(value, key)
    if "class_path" in value:
        path = resolve_class(value["class_path"], (base,), walker.allow, f"{key}.class_path")
        if class_at(path) is not cls:
            raise AdmissionError(f"{key}.class_path", value["class_path"], f"is not {cls.__name__}, which the "
                                 f"service builds the {key} from", f"leave class_path out of {key}:")
        extra = [k for k in value if k not in ("class_path", "init_args")]
        if extra:
            raise AdmissionError(f"{key}.{extra[0]}", value[extra[0]], "is not a key of a class spec",
                                 "give the arguments under init_args")
        inner = _group(value.get("init_args") or {}, f"{key}.init_args")
        return {"class_path": path, "init_args": special(walker, cls, inner, f"{key}.init_args")}
    return special(walker, cls, value, key)


def _model(walker: Walker, cls: type, args: dict, key: str) -> dict:
    out = walker.args(cls, args, key, skip=("layers",))
    if out.get("layers") is not None:
        layers = walker.free(out["layers"], f"{key}.layers")
        out["layers"] = map_backbones(layers, f"{key}.layers", lambda args, where: backbone(walker.places, args, where))
    return out


def _data(walker: Walker, cls: type, args: dict, key: str) -> dict:
    out = walker.args(cls, args, key, skip=("store", "source"))
    if out.get("source"):
        out["source"] = admit_source(out["source"], walker.places)
    admit_store(out, walker.places)
    return out


def map_backbones(spec: Any, key: str, visit: Callable[[dict, str], dict]) -> Any:
    """``spec`` (a layer spec, or a search's layer space) with every Backbone's arguments replaced
    by ``visit(args, key)``, at any depth (a Residual's body, a repeat block hold layers too)."""
    if isinstance(spec, list):
        return [map_backbones(item, f"{key}[{i}]", visit) for i, item in enumerate(spec)]
    if not isinstance(spec, dict):
        return spec
    return {name: visit(args, f"{key}.Backbone") if name == "Backbone" and isinstance(args, dict)
            else map_backbones(args, f"{key}.{name}", visit) for name, args in spec.items()}


def backbone(places: Places, args: dict, key: str) -> dict:
    """A Backbone's arguments: a registry-shaped ``name``, ``weights`` a named set or a read path."""
    out = dict(args)
    name = args.get("name")
    if isinstance(name, str) and not ARCH_NAME.match(name):
        raise AdmissionError(f"{key}.name", name, "is not an architecture name (names are looked up in timm's "
                             "and torchvision's registries; hub and local-dir names are refused)",
                             "use a registry name, e.g. tf_efficientnet_lite0, with weights: PATH for a local file")
    weights = args.get("weights")
    if isinstance(weights, str) and weights.lower() not in NAMED_WEIGHTS:
        out["weights"] = places.read(weights, f"{key}.weights")
    return out
