"""Create a store on first use from a named source (``data.source`` in a fit config).

Sources: ``digits`` (scikit-learn's bundled 8x8 digits, the offline default), ``digits-parity``
(the same images labelled even/odd: a binary task), ``digits-rotation`` (digits rotated by a random
angle, target = the angle: a regression task), ``idx:DIR`` (MNIST IDX files), ``folder:DIR`` (one
subfolder per class). A list of sources imports each in turn into the one store (e.g. the train/
and val/ folders of a data set).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from autolit.errors import UserError

_DIGITS_VARIANTS = {"digits": "digits", "digits-parity": "parity", "digits-rotation": "rotation"}
SOURCES = (*_DIGITS_VARIANTS, "idx:DIR", "folder:DIR")


def create_from_source(source: str | Sequence[str], store: Path) -> None:
    """Import ``source`` (one name or a list) into a new store at ``store``.

    The store is built at ``<store>.partial`` and renamed into place when every source is in, so
    an interrupted first run never leaves a store that looks complete; the next run finishes the
    partial one (imports are idempotent: what is already there is not added again).
    """
    sources = [source] if isinstance(source, str) else list(source)
    if not sources:
        raise UserError("data.source is an empty list; name at least one source, e.g. digits")
    partial = store.with_name(store.name + ".partial")
    for one in sources:
        _import_one(one, partial)
    os.replace(partial, store)


def _import_one(source: str, store: Path) -> None:
    from autolit.store import importers  # imported here: it pulls in scikit-learn

    if source in _DIGITS_VARIANTS:
        importers.import_digits(store, variant=_DIGITS_VARIANTS[source])
        return
    kind, _, arg = str(source).partition(":")
    if kind == "idx" and arg:
        importers.import_idx(Path(arg), store)
    elif kind == "folder" and arg:
        importers.import_folder(Path(arg), store)
    else:
        raise UserError(f"data.source: unknown source {source!r}; valid: {', '.join(SOURCES)}")
