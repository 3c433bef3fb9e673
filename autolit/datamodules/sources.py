"""Create a store on first use from a named source (``data.source`` in a fit config).

Sources: ``digits`` (scikit-learn's bundled 8x8 digits, the offline default), ``digits-parity``
(the same images labelled even/odd: a binary task), ``digits-rotation`` (digits rotated by a random
angle, target = the angle: a regression task), ``idx:DIR`` (MNIST IDX files), ``folder:DIR`` (one
subfolder per class).
"""

from __future__ import annotations

from pathlib import Path

from autolit.errors import UserError

_DIGITS_VARIANTS = {"digits": "digits", "digits-parity": "parity", "digits-rotation": "rotation"}
SOURCES = (*_DIGITS_VARIANTS, "idx:DIR", "folder:DIR")


def create_from_source(source: str, store: Path) -> None:
    """Import ``source`` into a new store at ``store``."""
    from autolit.store import importers  # imported here: it pulls in scikit-learn

    if source in _DIGITS_VARIANTS:
        importers.import_digits(store, variant=_DIGITS_VARIANTS[source])
        return
    kind, _, arg = source.partition(":")
    if kind == "idx" and arg:
        importers.import_idx(Path(arg), store)
    elif kind == "folder" and arg:
        importers.import_folder(Path(arg), store)
    else:
        raise UserError(f"data.source: unknown source {source!r}; valid: {', '.join(SOURCES)}")
