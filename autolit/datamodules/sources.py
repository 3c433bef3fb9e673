"""``data.source``: what to import into the store, resolved through the importer registry.

A source is a string or a mapping naming one entry of ``autolit.store.importers.IMPORTERS`` (the
scrape source registers itself from ``autolit.scrape.source``):

* strings: ``digits``, ``digits-parity``, ``digits-rotation`` (aliases of the digits importer),
  ``idx:DIR``, ``folder:DIR``, ``csv:FILE``;
* mappings: ``{folder: DIR, split: test}`` (the importer's path, then its options as keys), or
  ``{scrape: {queries: [ants, bees], per_query: 150}}`` / ``{digits: {variant: parity}}`` (options
  only); every key is checked against the importer's options, and errors name it
  (``data.source.scrape.per_query``).

A list imports each source in turn into the one store (e.g. the train/ and val/ folders of a data
set). When a source of the list pins the test split, the others split by hash into train and val
only (as IDX files do with t10k), so the test split is exactly that folder.

A missing store is built at ``<store>.partial`` and renamed into place when every source is in,
so an interrupted first run never leaves a store that looks complete; the next run finishes the
partial one (importers skip what they already stored). An existing store is completed only where
an importer says something is missing (the scrape source: queries whose label the store lacks).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autolit.errors import UserError, suggest
from autolit.store.splits import SplitPolicy

Source = str | dict


@dataclass(frozen=True)
class Resolved:
    """One ``data.source`` entry resolved: the importer, its path argument, its checked options."""

    importer: Any  # autolit.store.importers.Importer
    arg: str | None
    options: dict


def importers(source: Source | None = None) -> dict:
    """The registry; the sources of rooms the store may not import (scrape) are registered first,
    unless ``source`` names a store importer (so ``digits`` never loads the scrape client)."""
    from autolit.store.importers import IMPORTERS

    if isinstance(source, str):
        names = {source, source.partition(":")[0]}
    else:
        names = set(source) if isinstance(source, dict) else set()
    if not any(n == imp.name or n in imp.aliases for imp in IMPORTERS.values() for n in names):
        import autolit.scrape.source  # noqa: F401 - registers the scrape source
    return IMPORTERS


def source_forms() -> list[str]:
    """Every form ``data.source`` accepts, from the registry."""
    return [form for imp in importers().values() for form in imp.forms()]


def resolve(source: Source, where: str) -> Resolved:
    """Check one source entry (``where`` names it in errors) without running anything."""
    if isinstance(source, str):
        return _from_string(source, where)
    if isinstance(source, dict):
        return _from_mapping(source, where)
    raise UserError(f"{where}: {source!r} is not a source; valid: {', '.join(source_forms())}")


def _from_string(source: str, where: str) -> Resolved:
    """``digits-parity`` (an alias), ``folder:DIR`` (name:ARG) or ``digits`` (a name that takes no ARG)."""
    from autolit.store.importers import check_options

    registry = importers(source)
    for imp in registry.values():
        if source in imp.aliases:
            return Resolved(imp, None, check_options(imp, imp.aliases[source], lambda n: f"{where}.{n}"))
    kind, sep, arg = source.partition(":")
    imp = registry.get(kind)
    if imp is not None and bool(imp.arg) == bool(arg) == bool(sep):
        return Resolved(imp, arg or None, {})
    names = [*registry, *(alias for i in registry.values() for alias in i.aliases)]
    raise UserError(f"{where}: unknown source {source!r}{suggest(kind, names)}; valid: {', '.join(source_forms())}")


def _from_mapping(source: dict, where: str) -> Resolved:
    """``{folder: DIR, split: test}`` (the ARG, then options beside it) or ``{scrape: {options}}``."""
    from autolit.store.importers import check_options

    registry = importers(source)
    kinds = [k for k in source if k in registry]
    if len(kinds) != 1:
        raise UserError(f"{where}: {source!r} must name exactly one importer ({', '.join(registry)}) as a key, "
                        f"e.g. {{folder: DIR, split: test}}; valid: {', '.join(source_forms())}")
    imp = registry[kinds[0]]
    value, rest = source[imp.name], {k: v for k, v in source.items() if k != imp.name}
    if imp.arg:
        if not isinstance(value, str) or not value:
            raise UserError(f"{where}.{imp.name}: {value!r} must be the {imp.arg} to import ({imp.arg_help})")
        return Resolved(imp, value, check_options(imp, rest, lambda n: f"{where}.{n}"))
    value = {} if value is None else value
    if not isinstance(value, dict) or rest:
        example = imp.example or "{" + imp.name + ": {}}"
        raise UserError(f"{where}.{imp.name}: write its options as a mapping under the key, e.g. {example}")
    return Resolved(imp, None, check_options(imp, value, lambda n: f"{where}.{imp.name}.{n}"))


def resolve_all(source: Source | Sequence[Source]) -> list[Resolved]:
    """Every entry of ``data.source`` (one source or a list) checked, before anything is imported."""
    one = isinstance(source, (str, dict))
    sources = [source] if one else list(source)
    if not sources:
        raise UserError("data.source is an empty list; name at least one source, e.g. digits")
    return [resolve(s, "data.source" if one else f"data.source[{i}]") for i, s in enumerate(sources)]


def ensure_store(source: Source | Sequence[Source] | None, store: Path) -> None:
    """Make the store at ``store`` hold what ``source`` names: build it when missing, complete it
    where an importer says something is missing, else leave it alone."""
    if not source:
        return
    resolved = resolve_all(source)
    if store.exists():
        _complete(resolved, store)
        return
    create_from_source(resolved, store)


def create_from_source(resolved: list[Resolved], store: Path) -> None:
    """Import every source into ``<store>.partial``, then rename it to ``store``."""
    from autolit.store.importers import invoke

    pins_test = any(r.options.get("split") == "test" for r in resolved)
    split_policy = SplitPolicy(val=0.1, test=0.0) if pins_test else None
    partial = store.with_name(store.name + ".partial")
    for r in resolved:
        invoke(r.importer, r.arg, partial, r.options, split_policy=split_policy)
    os.replace(partial, store)


def _complete(resolved: list[Resolved], store: Path) -> None:
    """Import into an existing store only what its importers report missing."""
    from autolit.store import StoreReader
    from autolit.store.importers import invoke

    labels: list[str] | None = None
    for r in resolved:
        if r.importer.missing is None:
            continue
        if labels is None:
            reader = StoreReader(store)
            labels = list(reader.meta.labels)
            reader.close()  # the importer opens the store for writing (one env per process)
        todo = r.importer.missing(labels, r.arg, r.options)
        if todo:
            invoke(r.importer, r.arg, store, todo)
