"""The class allowlist, and the one way a class name from a config is resolved: safely.

A name is admitted by the class it resolves to, not by its spelling:

* a dotted name is first matched *as a string* against the allowlist, on whole dotted parts
  (``torch.optim`` never covers ``torch.optimx``): its module part must lie in an allowlisted
  package (or the module of an allowlisted class). Nothing outside is ever imported, since
  importing a module named by untrusted input can itself run code;
* only then is it looked up the way jsonargparse will (import the module part, take the last part as
  an attribute). Every part must be public (no ``__init__.__globals__``), the module part a real
  module, the object a top-level class whose own ``__name__`` it is, *defined* under the allowlist
  (``torch.optim.sgd.Tensor`` is torch's Tensor, defined elsewhere) and a concrete subclass of
  what the place takes (an Optimizer for ``optimizer``);
* a short name (``SGD``, ``EarlyStopping``), which jsonargparse resolves among every loaded subclass
  of the place's type, is resolved here among the allowlisted classes only, and rewritten to the
  full path, so what the job process finds is the class admitted.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from dataclasses import dataclass
from functools import lru_cache

from autolit.errors import suggest
from autolit.serve.admit.errors import AdmissionError

# Local-only loggers: Comet, MLflow, Neptune and W&B send the run (and with log_model, its
# checkpoints) to another host; allow them with --allow-class lightning.pytorch.loggers.
DEFAULT_ALLOW = (
    "torch.optim",                                 # optimizers, and torch.optim.lr_scheduler
    "lightning.pytorch.cli.ReduceLROnPlateau",     # the ReduceLROnPlateau LightningCLI takes (monitor)
    "lightning.pytorch.callbacks",
    "lightning.pytorch.loggers.TensorBoardLogger",
    "lightning.pytorch.loggers.CSVLogger",
    "autolit.modules.AutoLitModule",
    "autolit.datamodules.StoreDataModule",
)
_DOTTED = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")  # public parts only
MAX_NAME = 200


def check_prefix(prefix: str) -> str:
    """An ``--allow-class`` value: a dotted path of public names (a package, module or class)."""
    if not isinstance(prefix, str) or not _DOTTED.match(prefix) or len(prefix) > MAX_NAME:
        raise AdmissionError("--allow-class", prefix, "is not a dotted path of public names",
                             "give a package, module or class path, e.g. lightning.pytorch.profilers")
    return prefix


@dataclass(frozen=True)
class Allowlist:
    """The allowed prefixes (``DEFAULT_ALLOW`` plus ``--allow-class``), matched on whole parts."""

    entries: tuple[str, ...] = DEFAULT_ALLOW

    @classmethod
    def with_extra(cls, extra: tuple[str, ...]) -> Allowlist:
        return cls(tuple(dict.fromkeys((*DEFAULT_ALLOW, *(check_prefix(p) for p in extra)))))

    def importable(self, dotted: str) -> bool:
        """``dotted`` lies in a package admission may import: an entry, or a class entry's module."""
        return any(dotted == p or dotted.startswith(p + ".") for p in _packages(self.entries))

    def defines(self, cls: type) -> bool:
        """``cls`` is an allowlisted class: defined under a package entry, or a class entry itself."""
        where = cls.__module__
        for entry in self.entries:
            target = _entry_object(entry)
            if isinstance(target, types.ModuleType) and (where == entry or where.startswith(entry + ".")):
                return True
            if target is cls:
                return True
        return False

    def classes(self) -> dict[type, str]:
        """Every allowlisted class, with its shortest public path (for short names and messages)."""
        return _classes(self.entries)


def resolve_class(name: object, bases: tuple[type, ...], allow: Allowlist, key: str) -> str:
    """The full path of the allowlisted class ``name`` stands for at a place taking ``bases``."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise AdmissionError(key, name, "is not a class name", _fix(bases, allow))
    if "." not in name:
        return _short(name, bases, allow, key)
    if not _DOTTED.match(name):
        raise AdmissionError(key, name, "is not a public dotted class path (private and dunder parts are refused)",
                             _fix(bases, allow))
    if not allow.importable(name.rpartition(".")[0]):
        raise AdmissionError(key, name, "is not on the class allowlist", _fix(bases, allow))
    cls = _lookup(name)
    if cls is None or not allow.defines(cls):
        raise AdmissionError(key, name, "is not a class defined under the allowlist", _fix(bases, allow))
    if not (issubclass(cls, bases) and not inspect.isabstract(cls)):
        raise AdmissionError(key, name, f"is not a concrete {_names(bases)}", _fix(bases, allow))
    return name


def class_at(path: str) -> type:
    """The class an admitted ``path`` names (it was imported when admitted)."""
    cls = _lookup(path)
    assert cls is not None, path
    return cls


def _short(name: str, bases: tuple[type, ...], allow: Allowlist, key: str) -> str:
    found = {cls: path for cls, path in allow.classes().items()
             if cls.__name__ == name and issubclass(cls, bases) and not inspect.isabstract(cls)}
    # a name that subclasses every other of the name (Lightning's ReduceLROnPlateau extends torch's)
    derived = [c for c in found if all(issubclass(c, other) for other in found)]
    if len(derived) == 1:
        return found[derived[0]]
    if not found:
        valid = sorted(c.__name__ for c in allow.classes() if issubclass(c, bases) and not inspect.isabstract(c))
        raise AdmissionError(key, name, f"is not an allowlisted {_names(bases)}{suggest(name, valid)}",
                             _fix(bases, allow))
    raise AdmissionError(key, name, f"names several allowlisted classes ({', '.join(sorted(found.values()))})",
                         "give the full class path")


def _lookup(name: str) -> type | None:
    """The class at ``name`` as jsonargparse finds it (import the module part), or None."""
    module_name, _, attr = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - no such module, or it fails to import: not admitted
        return None
    obj = getattr(module, attr, None) if module.__name__ == module_name else None
    if not inspect.isclass(obj) or obj.__name__ != attr or obj.__qualname__ != attr:
        return None
    return obj


@lru_cache(maxsize=64)
def _entry_object(entry: str) -> object:
    """The module or class an allowlist entry names (None when it names nothing importable)."""
    try:
        return importlib.import_module(entry)
    except ImportError:
        return _lookup(entry)


def _packages(entries: tuple[str, ...]) -> list[str]:
    return [e if isinstance(_entry_object(e), types.ModuleType) else e.rpartition(".")[0] for e in entries]


@lru_cache(maxsize=16)
def _classes(entries: tuple[str, ...]) -> dict[type, str]:
    """Classes reachable from the entries without importing anything new: an entry module's public
    classes and those of its public submodules already imported as its attributes."""
    allow = Allowlist(entries)
    found: dict[type, str] = {}
    for entry in entries:
        target = _entry_object(entry)
        if inspect.isclass(target):
            found.setdefault(target, entry)
        elif isinstance(target, types.ModuleType):
            _collect(target, allow, found, depth=0)
    return found


def _collect(module: types.ModuleType, allow: Allowlist, found: dict[type, str], depth: int) -> None:
    subs = []
    for attr, obj in sorted(vars(module).items()):
        if attr.startswith("_"):
            continue
        if inspect.isclass(obj) and obj.__name__ == attr and allow.defines(obj):
            found.setdefault(obj, f"{module.__name__}.{attr}")
        elif isinstance(obj, types.ModuleType) and obj.__name__ == f"{module.__name__}.{attr}" and depth < 3:
            subs.append(obj)
    for sub in subs:  # after the module's own names: the shortest path wins (torch.optim.SGD)
        _collect(sub, allow, found, depth + 1)


def _names(bases: tuple[type, ...]) -> str:
    return " or ".join(b.__name__ for b in bases) or "class"


def _fix(bases: tuple[type, ...], allow: Allowlist) -> str:
    valid = sorted(p for c, p in allow.classes().items()
                   if bases and issubclass(c, bases) and not inspect.isabstract(c))
    shown = ", ".join(valid[:8]) + (", …" if len(valid) > 8 else "")
    return (f"use an allowlisted {_names(bases)} ({shown})" if valid else
            f"nothing allowlisted is a {_names(bases)} here") + "; the server adds prefixes with --allow-class"
