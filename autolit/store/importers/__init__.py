"""The importer registry: every way data gets into a store, one file each.

``IMPORTERS`` maps a name to an :class:`~autolit.store.importers.base.Importer` (what it takes,
its options, the function). The CLI (``python -m autolit.store import <name>``), ``data.source``
and the hint printed for a missing store are all built from it. Adding an importer is one file
defining ``IMPORTER`` plus one line below; rooms that may not be imported from here (the scrape
source) add theirs with :func:`register`.

Each importer validates its input before creating anything, writes through one StoreWriter and
returns an :class:`ImportReport`. Re-running an import adds nothing (sources already seen are
skipped, and identical content is deduplicated by hash).
"""

from __future__ import annotations

from autolit.store.importers import csv, digits, folder, idx
from autolit.store.importers.base import IMPORT_BATCH, Importer, Option, check_options, invoke
from autolit.store.importers.csv import import_csv
from autolit.store.importers.digits import DIGITS_VARIANTS, import_digits
from autolit.store.importers.folder import import_folder
from autolit.store.importers.idx import import_idx
from autolit.store.envs import name_importers
from autolit.store.report import ImportReport

IMPORTERS: dict[str, Importer] = {
    digits.IMPORTER.name: digits.IMPORTER,
    idx.IMPORTER.name: idx.IMPORTER,
    folder.IMPORTER.name: folder.IMPORTER,
    csv.IMPORTER.name: csv.IMPORTER,
}


def register(importer: Importer) -> Importer:
    """Add an importer defined outside the store room (idempotent for the same object)."""
    if IMPORTERS.get(importer.name, importer) is not importer:
        raise ValueError(f"an importer named {importer.name!r} is already registered")
    IMPORTERS[importer.name] = importer
    return importer


def cli_importers() -> list[Importer]:
    """Importers offered as ``python -m autolit.store import <name>``."""
    return [imp for imp in IMPORTERS.values() if imp.cli]


__all__ = [
    "DIGITS_VARIANTS", "IMPORTERS", "IMPORT_BATCH", "ImportReport", "Importer", "Option", "check_options",
    "cli_importers", "import_csv", "import_digits", "import_folder", "import_idx", "invoke", "register",
]


name_importers(lambda: [imp.name for imp in cli_importers()])
