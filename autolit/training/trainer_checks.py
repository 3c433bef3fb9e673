"""Checks of a fit config's ``trainer:`` arguments, by key, before Lightning sees them.

Lightning 2.6 refuses some values only mid-fit (``accumulate_grad_batches: 0`` and
``check_val_every_n_epoch: 0`` divide by zero at the first batch or epoch end), accepts others that
quietly do nothing (``gradient_clip_val: -1`` clips nothing, as its precision plugin skips any bound
<= 0; ``num_sanity_val_steps: -5`` runs no sanity check; a ``min_epochs`` above ``max_epochs`` is
ignored) and words the rest as tracebacks from deep in its connectors. Here every numeric and choice argument of ``Trainer.__init__`` has a rule with
Lightning's own meaning (``-1`` is "no limit" for ``max_epochs``/``max_steps``, "every batch" for
``num_sanity_val_steps``); names come from Lightning's registries and its ``precision`` type.
"""

from __future__ import annotations

import functools
import math
import typing
from typing import Any

from autolit.errors import UserError, invalid_value
from autolit.training.rules import Rule, check_rules, choice, either, exactly, fraction, number

OWNER = "Trainer"
PROFILERS = ("simple", "advanced", "pytorch", "xla")  # lightning.pytorch.trainer.setup._init_profiler's own table


def _whole(v: Any) -> bool:
    """A whole number of batches: Lightning also reads ``2.0`` as 2 batches (but ``1.0`` as all)."""
    return isinstance(v, float) and math.isfinite(v) and v > 1 and v % 1 == 0


def _batches(*, zero: bool, example: str) -> Rule:
    """``limit_*_batches`` / ``overfit_batches``: a share of the loader or a count of batches."""
    share, count = fraction(zero=zero), number(0 if zero else 1, integer=True)
    test = either(share, count)[0]
    off = " (0 turns it off)" if zero else ""
    return (lambda v: test(v) or _whole(v)), f"{share[1]} or {count[1]}{off}", example


def _devices(v: Any) -> bool:
    """``devices``: a count (``-1``: all), ``auto``, ``"0,1"``, or a list of device indices."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v >= 1 or v == -1
    if isinstance(v, str):
        text = v.strip()
        if text in ("auto", "-1"):
            return True
        parts = [p.strip() for p in text.split(",")]
        return all(p.isdigit() for p in parts) and (len(parts) > 1 or int(parts[0]) >= 1)
    if isinstance(v, (list, tuple)):
        return bool(v) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v) \
            and len(set(v)) == len(v)
    return False


def _duration(v: Any) -> bool:
    """``max_time``: Lightning's own Timer parses it ("DD:HH:MM:SS" or a timedelta mapping), > 0."""
    from lightning.pytorch.callbacks import Timer

    try:
        seconds = Timer(duration=v)._duration
    except Exception:  # noqa: BLE001 - a MisconfigurationException, TypeError (bad keys) or overflow
        return False
    return seconds is not None and seconds > 0


@functools.cache
def precision_names() -> tuple[Any, ...]:
    """Every value ``Trainer(precision=...)`` takes, from the type Lightning declares for it."""
    from lightning import Trainer

    def flatten(annotation: Any) -> list[Any]:
        if typing.get_origin(annotation) is typing.Literal:
            return list(typing.get_args(annotation))
        return [v for a in typing.get_args(annotation) for v in flatten(a)]

    return tuple(flatten(typing.get_type_hints(Trainer.__init__)["precision"]))


def _precision_rule() -> Rule:
    """Lightning's names first (``16-mixed``), then the older spellings it still takes (``16``, ``bf16``)."""
    values = precision_names()
    names = [v for v in values if isinstance(v, str) and "-" in v]
    older = dict.fromkeys(str(v) for v in values if v not in names)
    return (choice(values)[0], f"one of {', '.join(names)} (or the older {', '.join(older)})", "bf16-mixed")


@functools.cache
def accelerator_names() -> tuple[str, ...]:
    from lightning.pytorch.accelerators import AcceleratorRegistry

    return ("auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators()))


@functools.cache
def strategy_names() -> tuple[str, ...]:
    from lightning.pytorch.strategies import StrategyRegistry

    return ("auto", *StrategyRegistry.available_strategies())


@functools.cache
def clip_algorithms() -> tuple[str, ...]:
    from lightning.pytorch.utilities import GradClipAlgorithmType

    return tuple(GradClipAlgorithmType.supported_types())


@functools.cache
def rules() -> dict[str, Rule]:
    """Trainer argument → rule (built on first use: the names come from Lightning's registries)."""
    no_limit = exactly(-1, "no limit")
    time = (lambda v: isinstance(v, (str, dict)) and _duration(v)), 'a duration "DD:HH:MM:SS" or {hours: 2}'
    interval = either(fraction(zero=False), number(1, integer=True), time)
    return {
        "accelerator": (*choice(accelerator_names()), "auto"),
        "strategy": (*choice(strategy_names(), fold_case=True), "auto"),
        "devices": (_devices, "an integer >= 1, -1 (all), auto, or device indices like [0, 1] or '0,1'", "1"),
        "num_nodes": (*number(1, integer=True), "1"),
        "precision": _precision_rule(),
        "fast_dev_run": (lambda v: v is False or (v == 0 and not isinstance(v, bool)),
                         "false: autolit's fit needs the run folder, logs and checkpoints fast_dev_run turns off",
                         "false, with limit_train_batches: 2, limit_val_batches: 2, max_epochs: 1 for a quick run"),
        "max_epochs": (*either(number(1, integer=True), no_limit), "10"),
        "min_epochs": (*number(0, integer=True), "1"),
        "max_steps": (*either(number(1, integer=True), no_limit), "1000"),
        "min_steps": (*number(0, integer=True), "100"),
        "max_time": (*time, '"00:01:00:00" (one hour)'),
        "limit_train_batches": _batches(zero=False, example="0.25"),
        "limit_val_batches": _batches(zero=True, example="0.25"),
        "limit_test_batches": _batches(zero=True, example="1.0"),
        "limit_predict_batches": _batches(zero=True, example="1.0"),
        "overfit_batches": _batches(zero=True, example="0"),
        "val_check_interval": (*interval, "0.5 (twice an epoch)"),
        "check_val_every_n_epoch": (*number(1, integer=True), "1"),
        "num_sanity_val_steps": (*either(number(0, integer=True), exactly(-1, "every val batch")), "2"),
        "log_every_n_steps": (*number(0, integer=True), "50"),
        "accumulate_grad_batches": (*number(1, integer=True), "1"),
        "gradient_clip_val": (*number(0), "1.0 (0 turns clipping off)"),
        "gradient_clip_algorithm": (*choice(clip_algorithms(), fold_case=True), "norm"),
        "deterministic": (lambda v: v in (True, False, "warn"), "true, false or 'warn'", "true"),
        "barebones": (lambda v: v is False,
                      "false: autolit's fit logs metrics and keeps checkpoints, which barebones turns off", "false"),
        "profiler": (*choice(PROFILERS), "simple"),
        "reload_dataloaders_every_n_epochs": (*number(0, integer=True), "0"),
    }


def names() -> dict[str, tuple[str, ...]]:
    """The names a misspelt choice is matched against (the closest one is the fix)."""
    return {"accelerator": accelerator_names(), "strategy": strategy_names(), "profiler": PROFILERS,
            "precision": tuple(map(str, precision_names())), "gradient_clip_algorithm": clip_algorithms()}


def check_trainer(args: dict[str, Any], *, machine: bool = True) -> None:
    """Refuse a bad ``trainer:`` value by key; ``machine``: also that the accelerator is on this machine."""
    check_rules("trainer", OWNER, args, rules(), names())
    _check_pairs(args)
    if machine and isinstance(args.get("accelerator"), str):
        _check_available(args["accelerator"].lower())


def _check_pairs(args: dict[str, Any]) -> None:
    """Values each valid alone that Lightning ignores or refuses together."""
    for low, high in (("min_epochs", "max_epochs"), ("min_steps", "max_steps")):
        lo, hi = args.get(low), args.get(high)
        if isinstance(lo, int) and isinstance(hi, int) and hi >= 1 and lo > hi:
            raise UserError(f"trainer.{low}: {lo} is more than trainer.{high} {hi}, so it is ignored (the fit "
                            f"stops at {high}); fix: e.g. {low}: {hi}, or raise {high}")
    every, epochs = args.get("check_val_every_n_epoch", 1), args.get("max_epochs")
    if isinstance(every, int) and isinstance(epochs, int) and every > epochs >= 1:
        raise UserError(f"trainer.check_val_every_n_epoch: {every} is more than trainer.max_epochs {epochs}, so "
                        "validation never runs (no val metrics, no best checkpoint); fix: e.g. "
                        f"check_val_every_n_epoch: {epochs}, or raise max_epochs")
    interval = args.get("val_check_interval")
    if args.get("check_val_every_n_epoch", 1) is None and isinstance(interval, float):
        raise UserError(f"trainer.val_check_interval: {interval!r} is a share of an epoch, but "
                        "trainer.check_val_every_n_epoch is null (validation counted in batches across epochs); "
                        "fix: e.g. val_check_interval: 100 (batches), or check_val_every_n_epoch: 1")
    if args.get("gradient_clip_algorithm") is not None and args.get("gradient_clip_val") is None:
        raise UserError(f"trainer.gradient_clip_algorithm: {args['gradient_clip_algorithm']!r} is set but "
                        "trainer.gradient_clip_val is not, so nothing is clipped; fix: e.g. gradient_clip_val: 1.0")


def _check_available(name: str) -> None:
    from lightning.pytorch.accelerators import AcceleratorRegistry

    names = sorted(AcceleratorRegistry.available_accelerators())
    available = [n for n in names if AcceleratorRegistry[n]["accelerator"].is_available()]
    wanted = [n for n in ("cuda", "mps") if n in names] if name == "gpu" else [name]
    if name != "auto" and name in (*names, "gpu") and not set(wanted) & set(available):
        raise UserError(f"trainer.accelerator: {name!r} is not available on this machine (available: "
                        f"{', '.join(available)}); fix: e.g. accelerator: auto")


def check_against_data(args: dict[str, Any], batches: dict[str, int]) -> None:
    """What needs the data's size: a batch share that rounds to no batch, a ``val_check_interval``
    past the epoch's end. ``batches``: batches per epoch of each split (one device)."""
    limits = {split: args.get(f"limit_{split}_batches") for split in ("train", "val", "test")}
    for split, limit in limits.items():
        n = batches.get(split, 0)
        if isinstance(limit, float) and 0 < limit <= 1 and n and int(n * limit) == 0:
            raise invalid_value(f"trainer.limit_{split}_batches", limit, OWNER,
                         f"at least 1/{n} = {1 / n:.3g}: the {split} split has {n} batch{'es' * (n != 1)} of "
                         "data.batch_size, and a share under one batch runs none", f"{1 / n:.3g}")
    interval, n = args.get("val_check_interval"), batches.get("train", 0)
    limit = limits["train"]
    if isinstance(limit, int) or _whole(limit):
        n = min(n, int(limit))
    elif isinstance(limit, float):
        n = int(n * limit)
    if (isinstance(interval, int) and not isinstance(interval, bool) and n and interval > n
            and args.get("check_val_every_n_epoch", 1) is not None and args.get("limit_val_batches") != 0):
        raise invalid_value("trainer.val_check_interval", interval, OWNER,
                     f"at most the {n} train batches of an epoch (or set check_val_every_n_epoch: null to count "
                     "batches across epochs)", str(n))
