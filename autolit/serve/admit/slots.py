"""What a parameter's type lets a config value be, read from the annotation jsonargparse reads.

jsonargparse decides from a parameter's type whether a string is taken as itself, as a class name
to import, as a callable's import path or as a config file to read. :func:`classify` folds an
annotation into a :class:`Slot` that says the same things, so admission checks a value the way
jsonargparse will use it, at any depth (``Optional[Union[Callable, str]]``, ``list[Callback]``),
and a parameter Lightning adds tomorrow is classified by its type, not by a list kept here.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import datetime
import enum
import inspect
import os
import pathlib
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

_SEQUENCES = {list, tuple, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection,
              abc.Set, abc.MutableSet, abc.Iterator}
_MAPPINGS = {dict, abc.Mapping, abc.MutableMapping}
_TEXT_TYPES = (str, datetime.timedelta, datetime.date, datetime.time)  # jsonargparse parses these from text


@dataclass(frozen=True)
class Slot:
    """What a value at one place may be.

    ``text``: a string is taken as itself. ``bases``: a class spec or class name of one of these
    (jsonargparse imports it). ``code``: a callable, a class object, a module or an unresolvable
    type (jsonargparse imports a string there): only ``None`` may go there. ``path``: a file
    system path. ``item``/``values``: what a list's items / a mapping's values may be. ``record``:
    a dataclass, given as a mapping of its fields. ``free``: any plain data (``Any``, no annotation).
    """

    text: bool = False
    bases: tuple[type, ...] = ()
    code: bool = False
    path: bool = False
    item: Slot | None = None
    values: Slot | None = None
    record: type | None = None
    free: bool = False

    @property
    def scalar(self) -> bool:
        """Only text, numbers or paths go here (a mapping given as YAML text falls back to the text)."""
        return not (self.imports or self.free or self.item or self.values)

    @property
    def imports(self) -> bool:
        """True when jsonargparse may import, or read as a file, a string given here."""
        return bool(self.bases or self.code or self.record)


FREE = Slot(text=True, free=True)


def merge(a: Slot, b: Slot) -> Slot:
    """The slot of ``Union[a, b]``."""
    item = a.item if b.item is None else b.item if a.item is None else merge(a.item, b.item)
    values = a.values if b.values is None else b.values if a.values is None else merge(a.values, b.values)
    return Slot(text=a.text or b.text, bases=tuple(dict.fromkeys(a.bases + b.bases)), code=a.code or b.code,
                path=a.path or b.path, item=item, values=values, record=a.record or b.record,
                free=a.free or b.free)


def classify(annotation: Any) -> Slot:
    """The :class:`Slot` of a type annotation (as ``typing.get_type_hints`` returns it)."""
    if annotation in (inspect.Parameter.empty, Any, object):
        return FREE
    if annotation is None or annotation is type(None):
        return Slot()
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return classify(args[0])
    if origin in (typing.Union, types.UnionType):
        slot = Slot()
        for arg in args:
            slot = merge(slot, classify(arg))
        return slot
    if origin is typing.Literal:
        return Slot(text=any(isinstance(a, str) for a in args))
    if origin is abc.Callable or annotation is abc.Callable or annotation is typing.Callable:
        return Slot(code=True)
    if origin is type or annotation is type or annotation is types.ModuleType:
        return Slot(code=True)
    if origin in _SEQUENCES or annotation in _SEQUENCES:
        item = Slot()
        for arg in [a for a in args if a is not Ellipsis] or [Any]:
            item = merge(item, classify(arg))
        return Slot(item=item)
    if origin in _MAPPINGS or annotation in _MAPPINGS:
        return Slot(values=classify(args[1]) if len(args) == 2 else FREE)
    if isinstance(annotation, (str, typing.ForwardRef, typing.TypeVar)) or not inspect.isclass(annotation):
        return Slot(code=True)  # a type we cannot read: nothing but None is admitted there
    return _class_slot(annotation)


def _class_slot(cls: type) -> Slot:
    if issubclass(cls, (bool, int, float, complex)):
        return Slot()
    if issubclass(cls, _TEXT_TYPES) or issubclass(cls, enum.Enum):
        return Slot(text=True)
    if issubclass(cls, (pathlib.PurePath, os.PathLike)):
        return Slot(text=True, path=True)
    if getattr(cls, "_is_protocol", False):  # a Protocol: jsonargparse takes an import path there
        return Slot(code=True)
    if dataclasses.is_dataclass(cls):
        return Slot(record=cls)
    return Slot(bases=(cls,))


@dataclass(frozen=True)
class Params:
    """A class's constructor parameters as slots; ``kwargs``: it takes ``**kwargs`` (``dict_kwargs``)."""

    slots: dict[str, Slot] = field(default_factory=dict)
    kwargs: bool = False


@lru_cache(maxsize=256)
def params_of(cls: type) -> Params:
    """The :class:`Params` of ``cls``'s constructor (``__init__``, or a dataclass's fields)."""
    init = cls.__init__ if not dataclasses.is_dataclass(cls) else cls
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):
        return Params()
    try:
        hints = typing.get_type_hints(init if inspect.isfunction(init) else cls.__init__)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: use the raw one (code: None only)
        hints = {}
    slots, kwargs = {}, False
    for name, param in signature.parameters.items():
        if name == "self" or param.kind is param.VAR_POSITIONAL:
            continue
        if param.kind is param.VAR_KEYWORD:
            kwargs = True
            continue
        slots[name] = classify(hints.get(name, param.annotation))
    return Params(slots, kwargs)
