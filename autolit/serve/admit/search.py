"""A search config admitted as every trial will run it.

The fit config it names is admitted alone; then with the ``overrides`` applied (by the search's
own :func:`autolit.search.config.set_dotted`, ``init_args`` skipping included); then once per
combination of the space's choices: a ``categorical`` list can hold class names and paths as well
as numbers, so every non-numeric choice is placed where a trial puts it and admitted there (one
numeric choice stands for the rest: a number is never a class or a path). Choices combine, since
one key's rule can depend on another's (a store in a data root needs ``data.cache: none``), up
to :data:`MAX_VARIANTS` combinations. The layer space's Backbones are checked choice by choice.
An error names the search config's key (``space.data.source.choices[1]``,
``overrides.trainer.callbacks[0].class_path``, ``fit_config.data.store``).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from autolit.errors import UserError
from autolit.serve.admit.classes import Allowlist
from autolit.serve.admit.errors import AdmissionError
from autolit.serve.admit.fit import admit_fit_config, backbone, map_backbones
from autolit.serve.admit.paths import Places
from autolit.serve.admit.values import Walker, scan

TOP = ("fit_config", "study", "overrides", "space")
LAYERS = "model.layers"
MAX_VARIANTS = 512


def admit_search_config(config: Any, fit_config: Any, allow: Allowlist, places: Places) -> dict:
    """The search config to run (a new dict), or an :class:`AdmissionError`."""
    from autolit.search.config import FIT_SECTIONS

    scan(config, dotted_ok=("overrides", "space"))
    if not isinstance(config, dict):
        raise AdmissionError("config", config, "is not a mapping", "send fit_config:, study:, overrides:, space:")
    for key in config:
        if key not in TOP:
            raise AdmissionError(key, config[key], "is not a search config key", f"use {', '.join(TOP)}")
    out = copy.deepcopy(config)
    out["fit_config"] = places.read(config.get("fit_config"), "fit_config")
    _moved(lambda: admit_fit_config(fit_config, allow, places), {"": "fit_config."})
    walker = Walker(allow, places)
    _study(config.get("study"), walker)
    overrides = config.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise AdmissionError("overrides", overrides, "is not a mapping", "map dotted keys to values")
    space = config.get("space") if isinstance(config.get("space"), dict) else {}
    for part, keys in (("overrides", overrides), ("space", space)):
        for key in keys:
            if key.split(".")[0] not in FIT_SECTIONS:
                raise AdmissionError(f"{part}.{key}", keys[key], "does not start with a fit config section",
                                     f"use {', '.join(FIT_SECTIONS)}")
    base = copy.deepcopy(fit_config)
    targets = {k: _place(base, v, k, f"overrides.{k}") for k, v in overrides.items()}
    admitted = _moved(lambda: admit_fit_config(base, allow, places),
                      {t: f"overrides.{k}" for k, t in targets.items()}, context="with the overrides")
    if "overrides" in out and overrides:
        out["overrides"] = {k: _get(admitted, t) for k, t in targets.items()}
    if config.get("space") is not None:
        out["space"] = _space(config["space"], base, allow, places, walker)
    return out


def _study(study: Any, walker: Walker) -> None:
    if study is None:
        return
    if not isinstance(study, dict):
        raise AdmissionError("study", study, "is not a mapping", "give study: {name: ..., metric: ...}")
    name = study.get("name")
    if isinstance(name, str) and (name.strip() in ("", ".", "..") or any(c in name for c in "/\\\0")):
        raise AdmissionError("study.name", name, "is not one folder name (it names the trial folders)",
                             "give a plain name, e.g. digits")
    walker.free(study, "study")  # sampler/pruner: names from optuna's registries, no class specs


def _space(space: Any, base: dict, allow: Allowlist, places: Places, walker: Walker) -> dict:
    from autolit.search.space import parse_space

    try:
        parsed = parse_space(space)
    except UserError as exc:
        raise AdmissionError("space", space, f"is not a search space ({exc})", "see docs/search.md") from None
    out = copy.deepcopy(space)
    keys = list(parsed.scalars)
    picks = [_representatives(space[k]) for k in keys]
    combos = 1
    for pick in picks:
        combos *= len(pick)
    if combos > MAX_VARIANTS:
        raise AdmissionError("space", f"{combos} combinations", f"has more than {MAX_VARIANTS} combinations of "
                             "non-numeric choices to check", "search fewer string choices at once")
    for combo in itertools.product(*picks):
        trial = copy.deepcopy(base)
        where = {}
        for key, (index, value) in zip(keys, combo):
            name = f"space.{key}" + (f".choices[{index}]" if index is not None else "")
            where[_place(trial, value, key, name)] = name
        admitted = _moved(lambda: admit_fit_config(trial, allow, places), where,
                          context="in a trial of the space")
        for key, (index, _) in zip(keys, combo):
            if index is not None:
                out[key]["choices"][index] = _get(admitted, _target(base, key))
    if space.get(LAYERS) is not None:
        layers = walker.free(space[LAYERS], f"space.{LAYERS}")
        out[LAYERS] = map_backbones(layers, f"space.{LAYERS}", lambda args, key: _space_backbone(places, args, key))
    return out


def _representatives(spec: dict) -> list[tuple[int | None, Any]]:
    """(choice index, value) to admit for one key: each non-numeric choice, one numeric one."""
    if spec.get("type") != "categorical":
        return [(None, spec.get("low"))]
    picks, numeric = [], None
    for i, choice in enumerate(spec["choices"]):
        if isinstance(choice, (int, float)) and not isinstance(choice, bool):
            numeric = numeric or (i, choice)
        else:
            picks.append((i, choice))
    return picks + ([numeric] if numeric else [])


def _space_backbone(places: Places, args: dict, key: str) -> dict:
    """A Backbone of the layer space: its name and weights checked, each categorical choice alone."""
    out = dict(args)
    for arg in ("name", "weights"):
        spec = args.get(arg)
        if isinstance(spec, dict) and spec.get("type") == "categorical":
            out[arg] = {**spec, "choices": [_choice(places, arg, c, f"{key}.{arg}.choices[{i}]")
                                            for i, c in enumerate(spec.get("choices") or [])]}
        elif spec is not None:
            out[arg] = backbone(places, {arg: spec}, key)[arg]
    return out


def _choice(places: Places, arg: str, choice: Any, key: str) -> Any:
    try:
        return backbone(places, {arg: choice}, "Backbone")[arg]
    except AdmissionError as exc:
        raise exc.moved(key) from None


def _place(config: dict, value: Any, key: str, name: str) -> str:
    """Set ``key`` in ``config`` as a trial would; return the key path it landed at."""
    from autolit.search.config import set_dotted

    target = _target(config, key)
    try:
        set_dotted(config, key, value)
    except UserError as exc:
        raise AdmissionError(name, value, f"cannot be placed in the fit config ({exc})", "check the key") from None
    return target


def _target(config: dict, key: str) -> str:
    """The key path ``set_dotted(config, key, …)`` writes to (it may step into ``init_args``)."""
    node: Any = config
    parts, out = key.split("."), []
    for part in parts[:-1]:
        if isinstance(node, dict) and part not in node and isinstance(node.get("init_args"), dict):
            node = node["init_args"]
            out.append("init_args")
        out.append(part)
        node = node.get(part, {}) if isinstance(node, dict) else {}
    last = parts[-1]
    if isinstance(node, dict) and last not in node and isinstance(node.get("init_args"), dict) and last != "init_args":
        out.append("init_args")
    return ".".join([*out, last])


def _get(config: dict, path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _moved(admit: Callable[[], dict], where: dict[str, str], context: str = "") -> dict:
    """Run ``admit``; an error under one of ``where``'s fit key paths is renamed to its search key."""
    try:
        return admit()
    except AdmissionError as exc:
        for target, name in sorted(where.items(), key=lambda kv: -len(kv[0])):
            if not target:
                raise exc.moved(f"{name}{exc.key}") from None
            if exc.key == target or exc.key.startswith((target + ".", target + "[")):
                raise exc.moved(name + exc.key[len(target):]) from None
        raise exc.moved(exc.key, f"{exc.why} ({context})" if context else None) from None
