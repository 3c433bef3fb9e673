"""The LMDB image store: one normalised image per record, content-addressed, deterministic splits.

Public API (see docs/store.md for the on-disk schema)::

    from autolit.store import StoreWriter, StoreReader, ImagePolicy, SplitPolicy
    with StoreWriter("data/ants.store", labels=["ant", "bee"]) as w:
        w.add_image(open("ant.jpg", "rb").read(), label="ant", source="ant.jpg")
    reader = StoreReader("data/ants.store")
    image_bytes, label = reader.read(reader.keys("train")[0])

Importers (one registry): ``autolit.store.importers.IMPORTERS``; checks: ``autolit.store.verify``;
process and machine helpers (shared with other rooms): the leaf module ``autolit.system``.
"""

from __future__ import annotations

from autolit.store.auxiliary import put_aux
from autolit.store.damage import StoreDamaged
from autolit.store.policy import (
    ALLOWED_FORMATS_DEFAULT,
    REJECT_REASONS,
    ImagePolicy,
    ImageRejected,
    NormalizedImage,
    encode_array,
    normalize_image,
)
from autolit.store.reader import StoreMeta, StoreReader
from autolit.store.schema import SCHEMA_VERSION
from autolit.store.splits import SPLITS, SplitPolicy, split_for
from autolit.store.writer import AddResult, StoreWriter

__all__ = [
    "ALLOWED_FORMATS_DEFAULT", "REJECT_REASONS", "SCHEMA_VERSION", "SPLITS",
    "AddResult", "ImagePolicy", "ImageRejected", "NormalizedImage", "SplitPolicy", "StoreDamaged", "StoreMeta",
    "StoreReader", "StoreWriter", "encode_array", "normalize_image", "put_aux", "split_for",
]
