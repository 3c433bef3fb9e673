"""Argument rules shared by the fit config's checks: a test, what the value must be, an example.

A rule is ``(test, must, example)``: ``test(value)`` is True for a valid value, ``must`` says what
a valid one is (``an integer >= 1``) and ``example`` is a value to suggest; a refusal is worded by
:func:`autolit.errors.invalid_value`, e.g. ``trainer.accumulate_grad_batches: 0 is not valid for
Trainer (must be an integer >= 1); fix: e.g. accumulate_grad_batches: 1``. :func:`describe` words a
type annotation, for values jsonargparse refuses by type before any rule sees them.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from autolit.errors import invalid_value

Rule = tuple[Callable[[Any], bool], str, str]


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False, integer: bool = False) -> tuple[Callable[[Any], bool], str]:
    """A range test and its wording, e.g. ``a number in [0, 1)``."""
    def test(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)) or not math.isfinite(v):
            return False
        return ((low is None or (v > low if low_open else v >= low))
                and (high is None or (v < high if high_open else v <= high)))
    kind = "an integer" if integer else "a number"
    if low is not None and high is not None:
        text = f"{kind} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        text = f"{kind} {'>' if low_open else '>='} {low:g}"
    else:
        text = kind
    return test, text


def either(*parts: tuple[Callable[[Any], bool], str]) -> tuple[Callable[[Any], bool], str]:
    """Valid when any part is: ``an integer >= 1, or -1 (no limit)``."""
    return (lambda v: any(test(v) for test, _ in parts)), ", or ".join(text for _, text in parts)


def exactly(value: Any, meaning: str) -> tuple[Callable[[Any], bool], str]:
    """One special value, e.g. ``-1`` meaning no limit."""
    return (lambda v: not isinstance(v, bool) and v == value), f"{value!r} ({meaning})"


def fraction(*, zero: bool) -> tuple[Callable[[Any], bool], str]:
    """A float share of the batches: ``(0, 1]``, or ``[0, 1]`` where 0 turns the loop off."""
    def test(v: Any) -> bool:
        return isinstance(v, float) and math.isfinite(v) and (v >= 0 if zero else v > 0) and v <= 1
    return test, f"a fraction in {'[' if zero else '('}0.0, 1.0]"


def choice(names: Iterable[Any], *, fold_case: bool = False) -> tuple[Callable[[Any], bool], str]:
    """One of ``names`` (compared lower-cased with ``fold_case``, as Lightning does for strategies)."""
    names = list(names)
    def test(v: Any) -> bool:
        if fold_case and isinstance(v, str):
            v = v.lower()
        return not isinstance(v, bool) and v in names
    return test, f"one of {', '.join(map(str, names))}"


def check_rules(section: str, owner: str, args: dict[str, Any], rules: dict[str, Rule],
                names: dict[str, Iterable[str]] | None = None) -> None:
    """Refuse the first value of ``args`` its rule does not accept (``None`` and objects pass);
    ``section`` is the keys' prefix (``trainer``; empty for top-level keys)."""
    for key, value in args.items():
        value = value.as_dict() if hasattr(value, "as_dict") else value
        rule = rules.get(key)
        if rule is None or value is None or _is_object(value):
            continue
        test, must, example = rule
        if not test(value):
            raise invalid_value(f"{section}.{key}" if section else key, value, owner, must, example,
                                (names or {}).get(key, ()))


def _is_object(value: Any) -> bool:
    """A ``class_path`` section or a built object (a Strategy, an Accelerator): Lightning's to check."""
    if isinstance(value, dict):
        return "class_path" in value
    return not isinstance(value, (bool, int, float, str, list, tuple))


def describe(annotation: Any) -> str:
    """A type annotation in words: ``Optional[int]`` → ``an integer``, ``bool`` → ``true or false``."""
    if annotation is type(None):
        return ""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        words = [describe(a) for a in typing.get_args(annotation)]
        return " or ".join(dict.fromkeys(w for w in words if w))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(annotation)))
    if origin in (list, tuple, Iterable, typing.get_origin(Iterable[int])):
        return "a list"
    if origin is dict or annotation is dict:
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a text"}.get(
        annotation, f"a {getattr(annotation, '__name__', annotation)}")
