"""Checks of a fit config's ``optimizer:`` and ``lr_scheduler:`` before anything is built.

LightningCLI resolves any ``torch.optim`` class by its ``class_path``; torch itself rejects some
bad values (``Invalid learning rate: -0.1``) without naming the config key, and accepts others
that only break mid-training (``StepLR`` with ``step_size: 0`` divides by zero at the first
epoch, ``CosineAnnealingLR`` with ``T_max: -3`` silently runs a nonsense schedule). Here every
argument with a known range is checked by name, and the parser's own errors (an unknown class, an
unknown argument) are rewritten into one line with the key, the value, the valid names and the fix.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from autolit.errors import UserError, invalid_value, one_line, suggest
from autolit.training.rules import Rule
from autolit.training.rules import number as _num

SECTIONS = {"optimizer": "torch.optim", "lr_scheduler": "torch.optim.lr_scheduler"}


def _pair_in_unit(v: Any) -> bool:
    test = _num(0, 1, high_open=True)[0]
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(test(b) for b in v)


def _increasing_ints(v: Any) -> bool:
    test = _num(0, integer=True)[0]
    return isinstance(v, (list, tuple)) and bool(v) and all(test(m) for m in v) and list(v) == sorted(set(v))


# argument name → (test, what it must be, an example value)
RULES: dict[str, Rule] = {
    "lr": (*_num(0, low_open=True), "0.001"),
    "eps": (*_num(0), "1e-8"),
    "weight_decay": (*_num(0), "0.01"),
    "momentum": (*_num(0, 1), "0.9"),
    "dampening": (*_num(0, 1), "0"),
    "betas": (_pair_in_unit, "two numbers in [0, 1)", "[0.9, 0.999]"),
    "rho": (*_num(0, 1), "0.9"),
    "alpha": (*_num(0), "0.99"),
    "lr_decay": (*_num(0), "0"),
    "initial_accumulator_value": (*_num(0), "0"),
    "T_max": (*_num(1, integer=True), "30 (the epochs of one cosine half-cycle)"),
    "T_0": (*_num(1, integer=True), "10"),
    "T_mult": (*_num(1, integer=True), "1"),
    "step_size": (*_num(1, integer=True), "10"),
    "gamma": (*_num(0, low_open=True), "0.1"),
    "eta_min": (*_num(0), "0"),
    "milestones": (_increasing_ints, "a list of increasing epoch numbers", "[10, 20]"),
    "max_lr": (*_num(0, low_open=True), "0.01"),
    "total_steps": (*_num(1, integer=True), "1000"),
    "epochs": (*_num(1, integer=True), "10"),
    "steps_per_epoch": (*_num(1, integer=True), "100"),
    "pct_start": (*_num(0, 1, low_open=True, high_open=True), "0.25"),
    "div_factor": (*_num(0, low_open=True), "25"),
    "final_div_factor": (*_num(0, low_open=True), "1e4"),
    "factor": (*_num(0, 1, low_open=True, high_open=True), "0.1"),
    "patience": (*_num(0, integer=True), "10"),
    "start_factor": (*_num(0, 1, low_open=True), "0.1"),
    "end_factor": (*_num(0, 1), "1.0"),
    "total_iters": (*_num(1, integer=True), "5"),
    "power": (*_num(0), "1.0"),
    "min_lr": (*_num(0), "0"),
}


def check_section(section: str, class_path: str, init_args: dict[str, Any] | None) -> None:
    """Refuse known-bad values of ``section`` (``optimizer`` / ``lr_scheduler``) by key."""
    for key, value in (init_args or {}).items():
        rule = RULES.get(key)
        if rule is not None and value is not None and not rule[0](value):
            raise invalid_value(f"{section}.init_args.{key}", value, _short(class_path), rule[1], rule[2])


def rephrase_value_error(section: str, class_path: str, init_args: dict[str, Any], exc: Exception) -> UserError:
    """torch's own refusal (``Invalid learning rate: -0.1``) with the key that holds the value."""
    text = one_line(str(exc))
    keys = [k for k, v in (init_args or {}).items() if _mentions(text, v)]
    where = f"{section}.init_args.{keys[0]}" if len(keys) == 1 else f"{section}.init_args"
    value = f" {init_args[keys[0]]!r}" if len(keys) == 1 else ""
    return UserError(f"{where}:{value} is not accepted by {_short(class_path)} ({text}); fix: change it "
                     f"(see the torch docs of {class_path})")


def _mentions(text: str, value: Any) -> bool:
    values = value if isinstance(value, (list, tuple)) else [value]
    numbers = {float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)}
    return any(isinstance(v, (int, float)) and not isinstance(v, bool) and float(v) in numbers for v in values)


def rephrase_parse_error(message: str) -> str | None:
    """One line for jsonargparse's multi-line refusal of an optimizer/scheduler section, or None."""
    key = re.search(r'Parser key "(optimizer|lr_scheduler)"', message)
    if key is None:
        return None
    section = key.group(1)
    missing_class = re.search(r"class_path '([^']+)'.*?has no attribute '([^']+)'", message, re.S)
    if missing_class:
        given = missing_class.group(1)
        names = _class_names(section)
        return (f"{section}.class_path: {given!r} is not a class of {SECTIONS[section]}"
                f"{suggest(given.rsplit('.', 1)[-1], names)}; valid: {', '.join(names)}; fix: e.g. class_path: {SECTIONS[section]}.{names[0]}")
    bad_arg = re.search(r"class_path '([^']+)'.*?Option '([^']+)' is not accepted", message, re.S)
    if bad_arg:
        class_path, arg = bad_arg.groups()
        params = _params(class_path)
        return (f"{section}.init_args.{arg}: {_short(class_path)} takes no argument {arg!r}"
                f"{suggest(arg, params)}; valid arguments: {', '.join(params)}")
    return None


def _short(class_path: str) -> str:
    return class_path.rsplit(".", 1)[-1]


def _class_names(section: str) -> list[str]:
    import torch

    module = torch.optim if section == "optimizer" else torch.optim.lr_scheduler
    base = torch.optim.Optimizer if section == "optimizer" else torch.optim.lr_scheduler.LRScheduler
    names = [n for n, c in vars(module).items() if inspect.isclass(c) and not n.startswith("_")
             and (issubclass(c, base) or n == "ReduceLROnPlateau") and c is not base]
    preferred = ["AdamW", "Adam", "SGD"] if section == "optimizer" else ["CosineAnnealingLR", "StepLR", "OneCycleLR"]
    return [*preferred, *sorted(n for n in names if n not in preferred)]


def _params(class_path: str) -> list[str]:
    import importlib

    module, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return []
    return [p for p in inspect.signature(cls).parameters if p not in ("params", "optimizer", "self")]
