"""The resume prescan reads what earlier runs stored; a tampered provenance does not stop it."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from autolit.scrape.collect import ScrapeOptions, _prescan
from autolit.scrape.phash import dhash_bytes
from autolit.store import StoreReader, StoreWriter


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (16, 16), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_a_malformed_stored_dhash_is_recomputed_not_a_crash(tmp_path):
    store = tmp_path / "s"
    with StoreWriter(store, labels=["ants"]) as writer:
        for i, dhash in enumerate(["zz-not-hex", None, "0" * 40]):
            writer.add_image(_png(i), label="ants", source=f"u{i}", provenance={"query": "ants", "dhash": dhash})
    known = _prescan(store, ScrapeOptions(per_query=5, near_dup=True))
    assert known.per_query == {"ants": 3} and len(known.near) == 3
    reader = StoreReader(store)
    stored = {dhash_bytes(reader.read(k)[0]) for k in reader.keys()}
    assert all(known.near.is_near_duplicate(h) for h in stored)  # recomputed from the image bytes


def test_a_provenance_that_is_not_a_mapping_is_not_a_crash(tmp_path):
    store = tmp_path / "s"
    with StoreWriter(store, labels=["ants"]) as writer:
        writer.add_image(_png(0), label="ants", source="u0", provenance={"query": "ants"})
        writer.add_image(_png(1), label="ants", source="u1", provenance=["ants"])  # was: AttributeError
    known = _prescan(store, ScrapeOptions(per_query=5, near_dup=True))
    assert known.per_query == {"ants": 1} and len(known.near) == 2
