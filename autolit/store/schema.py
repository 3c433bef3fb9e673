"""On-disk layout of a store (schema version 1): keys, record encoding, meta, fingerprint.

Pure functions only (no LMDB here), so the layout can be read and tested in one place.
The human-readable version of this file is ``docs/store.md``; keep both in step.

Keys (all ASCII):

* ``meta``               → JSON store metadata (see :func:`new_meta`)
* ``s/<split>/<sha256>`` → record: 4-byte big-endian header length, JSON header, image bytes
* ``h/<sha256>``         → split name (the dedup index: one record per content hash)
* ``u/<sha256(source)>`` → outcome of a source (``added:<sha>``, ``duplicate:<sha>``, ``rejected:<reason>``)
* ``x/<name>``           → auxiliary JSON (e.g. normalisation statistics; not in the fingerprint)
"""

from __future__ import annotations

import hashlib
import json
import math
import struct

SCHEMA_VERSION = 1
META_KEY = b"meta"
TASKS: tuple[str, ...] = ("classification", "regression")

_HEADER = struct.Struct(">I")
_MOD = 1 << 256


def record_key(split: str, sha256_hex: str) -> bytes:
    """Key of the record with this content hash in this split."""
    return f"s/{split}/{sha256_hex}".encode("ascii")


def record_prefix(split: str | None = None) -> bytes:
    """Key prefix of all records (``split=None``) or of one split."""
    return b"s/" if split is None else f"s/{split}/".encode("ascii")


def sha_of_key(key: bytes) -> str:
    """The sha256 part of a record key."""
    return key.rsplit(b"/", 1)[1].decode("ascii")


def hash_key(sha256_hex: str) -> bytes:
    """Key of the dedup-index entry for a content hash."""
    return b"h/" + sha256_hex.encode("ascii")


def source_key(source: str) -> bytes:
    """Key remembering a source (path or URL); hashed so any string fits LMDB's key limit."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()
    return b"u/" + digest.encode("ascii")


def aux_key(name: str) -> bytes:
    """Key of an auxiliary JSON blob."""
    return b"x/" + name.encode("utf-8")


def dumps(obj: object) -> bytes:
    """Canonical compact JSON (sorted keys) so identical content gives identical bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def pack_record(header: dict, data: bytes) -> bytes:
    """Encode a record value: length-prefixed JSON header followed by the image bytes."""
    head = dumps(header)
    return _HEADER.pack(len(head)) + head + data


def unpack_record(value: bytes) -> tuple[dict, bytes]:
    """Decode a record value into (header dict, image bytes)."""
    (n,) = _HEADER.unpack_from(value, 0)
    start = _HEADER.size
    header = json.loads(bytes(value[start : start + n]))
    return header, bytes(value[start + n :])


def label_token(label: str | None, target: float | None) -> str:
    """What a record contributes to the fingerprint besides its hash and split.

    Classification uses the label *name* (not the index) so the accumulator does not depend
    on when a label was first seen; the label order itself is hashed separately.
    """
    if label is not None:
        return "label=" + label
    assert target is not None
    return "target=" + repr(float(target))


def fingerprint_term(sha256_hex: str, token: str, split: str) -> int:
    """One record's term in the order-independent accumulator (a 256-bit integer)."""
    digest = hashlib.sha256(f"{sha256_hex}|{token}|{split}".encode("utf-8")).digest()
    return int.from_bytes(digest, "big")


def add_term(accumulator_hex: str, term: int) -> str:
    """Accumulator update: sum modulo 2**256, kept as 64 hex digits in meta."""
    return f"{(int(accumulator_hex, 16) + term) % _MOD:064x}"


def compute_fingerprint(meta: dict) -> str:
    """Fingerprint of a store: a function of its content only.

    sha256 of canonical JSON holding the accumulator, the record count, the label names in
    index order, the task and the split policy. Write order, batch size, time, paths and the
    LMDB file layout do not enter it.
    """
    content = {
        "accumulator": meta["accumulator"],
        "count": meta["count"],
        "labels": meta["labels"],
        "task": meta["task"],
        "split": meta["split"],
    }
    return hashlib.sha256(dumps(content)).hexdigest()


def new_meta(task: str, labels: list[str], policy: dict, split: dict) -> dict:
    """Meta of an empty store."""
    meta = {
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "labels": list(labels),
        "count": 0,
        "per_label": {name: 0 for name in labels},
        "splits": {"train": 0, "val": 0, "test": 0},
        "policy": policy,
        "split": split,
        "accumulator": "0" * 64,
    }
    meta["fingerprint"] = compute_fingerprint(meta)
    return meta


def check_target(target: float) -> float:
    """A regression target must be a finite float (NaN would break the fingerprint and the loss)."""
    value = float(target)
    if not math.isfinite(value):
        raise ValueError(f"regression target must be finite, got {target!r}")
    return value
