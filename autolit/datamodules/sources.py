"""Create a store on first use from a named source (``data.source`` in a fit config).

Sources: ``digits`` (scikit-learn's bundled 8x8 digits, the offline default), ``digits-parity``
(the same images labelled even/odd: a binary task), ``digits-rotation`` (digits rotated by a random
angle, target = the angle: a regression task), ``idx:DIR`` (MNIST IDX files), ``folder:DIR`` (one
subfolder per class), or a mapping ``{folder: DIR, split: test}`` that pins every image of the
folder to one split. A list of sources imports each in turn into the one store (e.g. the train/
and val/ folders of a data set). When a source of the list pins the test split, the others split
by hash into train and val only (as IDX files do with t10k), so the test split is exactly that folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autolit.errors import UserError

_DIGITS_VARIANTS = {"digits": "digits", "digits-parity": "parity", "digits-rotation": "rotation"}
SOURCES = (*_DIGITS_VARIANTS, "idx:DIR", "folder:DIR", "{folder: DIR, split: SPLIT}")
_FOLDER_KEYS = {"folder", "split"}


def create_from_source(source: str | dict | Sequence[str | dict], store: Path) -> None:
    """Import ``source`` (one source or a list) into a new store at ``store``.

    The store is built at ``<store>.partial`` and renamed into place when every source is in, so
    an interrupted first run never leaves a store that looks complete; the next run finishes the
    partial one (imports are idempotent: what is already there is not added again).
    """
    sources = [source] if isinstance(source, (str, dict)) else list(source)
    if not sources:
        raise UserError("data.source is an empty list; name at least one source, e.g. digits")
    pins_test = any(isinstance(s, dict) and s.get("split") == "test" for s in sources)
    partial = store.with_name(store.name + ".partial")
    for i, one in enumerate(sources):
        where = "data.source" if isinstance(source, (str, dict)) else f"data.source[{i}]"
        _import_one(one, partial, where, test_pinned=pins_test)
    os.replace(partial, store)


def _import_one(source: Any, store: Path, where: str, *, test_pinned: bool) -> None:
    from autolit.store import importers  # imported here: it pulls in scikit-learn
    from autolit.store.splits import SplitPolicy

    split_policy = SplitPolicy(val=0.1, test=0.0) if test_pinned else None
    if isinstance(source, dict):
        unknown = sorted(set(source) - _FOLDER_KEYS)
        if "folder" not in source or unknown:
            raise UserError(f"{where}: {source!r} is not a source mapping; write "
                            "{folder: DIR, split: test} (keys: folder, split)")
        importers.import_folder(Path(str(source["folder"])), store, split=source.get("split"),
                                split_policy=split_policy)
        return
    if source in _DIGITS_VARIANTS:
        importers.import_digits(store, variant=_DIGITS_VARIANTS[source])
        return
    kind, _, arg = str(source).partition(":")
    if kind == "idx" and arg:
        importers.import_idx(Path(arg), store)
    elif kind == "folder" and arg:
        importers.import_folder(Path(arg), store, split_policy=split_policy)
    else:
        raise UserError(f"{where}: unknown source {source!r}; valid: {', '.join(SOURCES)}")
