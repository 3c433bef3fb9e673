"""The walk that admits values by what their place takes (:class:`Slot`), and the whole-tree scan.

:func:`scan` runs first over the whole config: plain JSON-like values only, no key that jsonargparse
reads specially (``a.b`` keys are nested keys to it, ``__path__`` re-roots relative paths), no
credential-like key and never the server's SerpApi key. :class:`Walker` then follows the types:
a class place takes an allowlisted class (a ``class_path`` spec, or a name), whose ``init_args``
are walked with that class's own parameter types; a callable place takes nothing but null; a
string that jsonargparse would read as a config file or an import path is refused; anywhere else
a ``class_path`` mapping is refused, since jsonargparse instantiates it even in untyped values.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from autolit.serve.admit import roles
from autolit.serve.admit.classes import Allowlist, class_at, resolve_class
from autolit.serve.admit.errors import AdmissionError, holds_key
from autolit.serve.admit.paths import Places, component, template
from autolit.serve.admit.slots import Slot, params_of

MAX_NODES, MAX_DEPTH = 100_000, 64
# api_key, serpapi_api_key, serp_api_key, apikey, key, token, access_token, client_secret, password
SECRET_KEY = re.compile(r"(^|_)(api_?key|key|token|secret|password)$", re.IGNORECASE)
SPEC_KEYS = ("class_path", "init_args", "dict_kwargs")
_CLASSY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")


def scan(config: Any, *, dotted_ok: tuple[str, ...] = ()) -> None:
    """Refuse anything in the tree that is not plain data or that jsonargparse would read specially.

    ``dotted_ok``: mappings (by key path) whose own keys are dotted by design (a search's
    ``overrides`` and ``space``).
    """
    todo: list[tuple[Any, str, int]] = [(config, "", 0)]
    count = 0
    while todo:
        value, key, depth = todo.pop()
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH:
            raise AdmissionError(key or "config", "…", f"holds more than {MAX_NODES} values or nests deeper "
                                 f"than {MAX_DEPTH}", "send a smaller config")
        if isinstance(value, dict):
            for name, item in value.items():
                where = _join(key, name)
                _check_key(name, where, dotted=key in dotted_ok)
                todo.append((item, where, depth + 1))
        elif isinstance(value, list):
            todo.extend((item, f"{key}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            if holds_key(value):
                raise AdmissionError(key, value, "holds the server's SerpApi key",
                                     "never put the key in a config: jobs read it from the server's environment")
            if "\0" in value:
                raise AdmissionError(key, value, "holds a NUL byte", "remove it")
        elif isinstance(value, float) and not math.isfinite(value):
            raise AdmissionError(key, value, "is not a finite number", "give a finite number")
        elif value is not None and not isinstance(value, (bool, int, float)):
            raise AdmissionError(key, type(value).__name__, "is not plain data (string, number, bool, null, "
                                 "list or mapping)", "send the config as YAML or JSON text")


def _check_key(name: object, where: str, *, dotted: bool) -> None:
    if not isinstance(name, str):
        raise AdmissionError(where, name, "is not a string key", "quote the key")
    if holds_key(name):
        raise AdmissionError(where, name, "holds the server's SerpApi key", "remove it")
    if name == "__path__" or name.startswith("$"):
        raise AdmissionError(where, name, "is a key jsonargparse reads as the config's own file",
                             "remove it: relative paths start at the job's folder")
    if "." in name and not dotted:
        raise AdmissionError(where, name, "is a dotted key, which jsonargparse reads as nested keys",
                             "nest it: write a: {b: ...} instead of a.b: ...")
    if SECRET_KEY.search(name):
        raise AdmissionError(where, name, "names a credential, which a job config never holds",
                             "remove it: the SerpApi key is read from the server's environment")


def _join(key: str, name: object) -> str:
    return f"{key}.{name}" if key else str(name)


class Walker:
    """Admit values by their slot; rewrites class names to full paths and paths to absolute ones."""

    def __init__(self, allow: Allowlist, places: Places) -> None:
        self.allow, self.places = allow, places

    def value(self, value: Any, slot: Slot, key: str) -> Any:
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            return self.text(value, slot, key)
        if isinstance(value, dict):
            return self.mapping(value, slot, key)
        if slot.item is None:
            if slot.imports:
                raise AdmissionError(key, value, "is a list, where one class or value is taken",
                                     "give a single class spec here")
            return self.free(value, key)
        return [self.value(v, slot.item, f"{key}[{i}]") for i, v in enumerate(value)]

    def text(self, text: str, slot: Slot, key: str) -> str:
        """A string where jsonargparse may import it or read it as a file, or a plain one."""
        if not slot.scalar:
            _not_structured(text, key)
        if not slot.imports:
            return self.places.write(text, key) if slot.path else text
        if slot.bases and _CLASSY.match(text):
            try:
                return resolve_class(text, slot.bases, self.allow, key)
            except AdmissionError:
                if not (slot.text and _registry_name(text) and not _loaded_subclass(text, slot.bases)):
                    raise
                return text  # a name Lightning resolves in its own registry (strategy: ddp)
        if slot.text and _registry_name(text):
            return text
        raise AdmissionError(key, text, "is read here as an import path or a config file to load",
                             "give a plain registry name (no . / ~), an allowlisted class, or null")

    def mapping(self, value: dict, slot: Slot, key: str) -> dict:
        if slot.bases and ("class_path" in value or not (slot.values or slot.record or slot.free)):
            return self.spec(value, slot.bases, key)
        if "class_path" in value or slot.record is None and slot.values is None:
            return self.free(value, key)  # refuses the class spec: nothing here takes a class
        if slot.record is not None:
            return self.args(slot.record, value, key)
        return {k: self.value(v, slot.values, f"{key}.{k}") for k, v in value.items()}

    def spec(self, value: dict, bases: tuple[type, ...], key: str) -> dict:
        """``{class_path, init_args, dict_kwargs}`` of an allowlisted class."""
        extra = [k for k in value if k not in SPEC_KEYS]
        if extra:
            raise AdmissionError(f"{key}.{extra[0]}", value[extra[0]], "is not a key of a class spec",
                                 "give class_path, and the class's arguments under init_args")
        if "class_path" not in value:
            raise AdmissionError(key, value, "has no class_path", "name the class: class_path: <allowlisted class>")
        path = resolve_class(value["class_path"], bases, self.allow, f"{key}.class_path")
        out: dict[str, Any] = {"class_path": path}
        for part in ("init_args", "dict_kwargs"):
            if part not in value or value[part] is None:
                continue
            if not isinstance(value[part], dict):
                raise AdmissionError(f"{key}.{part}", value[part], "is not a mapping (a string here is read as a "
                                     "config file)", f"write the arguments as a mapping under {part}")
            if part == "dict_kwargs" and not params_of(class_at(path)).kwargs:
                raise AdmissionError(f"{key}.{part}", value[part], f"is given but {path} takes no **kwargs",
                                     "remove it")
            out[part] = self.args(class_at(path), value[part], f"{key}.{part}")
        return out

    def args(self, owner: type, args: dict, key: str, *, skip: tuple[str, ...] = ()) -> dict:
        """The constructor arguments of ``owner``, each by its parameter's slot and path role."""
        params = params_of(owner)
        out = {}
        for name, value in args.items():
            where = f"{key}.{name}"
            if name in skip:
                out[name] = value
            elif name in params.slots:
                out[name] = self.param(owner, name, value, params.slots[name], where)
            elif params.kwargs:
                out[name] = self.kwarg(value, where)
            else:
                raise AdmissionError(where, value, f"is not an argument of {owner.__name__}",
                                     f"use one of {', '.join(params.slots) or 'none'}")
        return out

    def param(self, owner: type, name: str, value: Any, slot: Slot, key: str) -> Any:
        role = roles.role(owner, name, slot)
        if role is None or value is None:
            if isinstance(value, str) and not slot.imports and name not in roles.TEXT and roles.looks_like_path(value):
                raise AdmissionError(key, value, "looks like a path, under a key admission does not know as one",
                                     "give a plain name here")
            return self.value(value, slot, key)
        if role == roles.REMOTE:
            raise AdmissionError(key, value, "sends the run to another service", "leave it out (null)")
        if role == roles.COMPONENT:
            return component(value, key)
        if role == roles.TEMPLATE:
            return template(value, key)
        if not isinstance(value, str):
            raise AdmissionError(key, value, "is not a path", "give a folder inside the service's home")
        return self.places.write(value, key)

    def kwarg(self, value: Any, key: str) -> Any:
        """A ``**kwargs`` value. Its type is unknown here, but jsonargparse follows ``**kwargs`` into
        the function they are passed to (WeightAveraging's reach AveragedModel's ``avg_fn``, a
        callable): so no import path, no path, no class spec, at any depth."""
        if isinstance(value, str) and (not _registry_name(value) or structured(value)):
            raise AdmissionError(key, value, "is an import path or a path, under a key whose type admission does "
                                 "not know", "give a plain value here")
        if isinstance(value, dict):
            return {k: self.kwarg(v, f"{key}.{k}") for k, v in self.free(value, key).items()}
        if isinstance(value, list):
            return [self.kwarg(v, f"{key}[{i}]") for i, v in enumerate(value)]
        return value

    def free(self, value: Any, key: str) -> Any:
        """Untyped data: anything plain, but no class spec (jsonargparse instantiates those anywhere)."""
        if isinstance(value, dict):
            if "class_path" in value:
                raise AdmissionError(f"{key}.class_path" if key else "class_path", value["class_path"],
                                     "is a class where no class is expected", "remove the class spec")
            return {k: self.free(v, f"{key}.{k}" if key else k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.free(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            _not_structured(value, key)
        return value


def structured(text: str) -> bool:
    """``text`` is YAML for a mapping or a list. jsonargparse loads every string it is given for a
    typed argument as YAML first: at a class, callable or untyped place, ``"{class_path: os.system}"``
    or ``"class_path: os.system"`` becomes a class spec (a plain ``str`` place falls back to the text)."""
    if not any(c in text for c in ":[{-\n"):
        return False
    try:
        return isinstance(yaml.safe_load(text), (dict, list))
    except yaml.YAMLError:
        return False  # jsonargparse keeps text it cannot load


def _not_structured(text: str, key: str) -> None:
    if structured(text):
        raise AdmissionError(key, text, "is a string holding a YAML mapping or list, which jsonargparse loads here",
                             "write the value itself, not YAML text of it")


def _registry_name(text: str) -> bool:
    """A name a library looks up in its own registry (``ddp``, ``cuda:0``, ``bold grey82``): never an
    import path, a path or a URL, which jsonargparse would import or read first."""
    return (bool(text.strip()) and len(text) <= 200 and not roles.looks_like_path(text)
            and "://" not in text and not _IMPORT_PATH.match(text) and not text.startswith("_"))


def _loaded_subclass(name: str, bases: tuple[type, ...]) -> bool:
    """A loaded subclass of ``bases`` is called ``name``: jsonargparse would pick it by that name."""
    todo, seen = list(bases), set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if cls.__name__ == name:
            return True
        try:
            todo.extend(cls.__subclasses__())
        except TypeError:  # type.__subclasses__ needs an argument
            continue
    return False
