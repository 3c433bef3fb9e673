"""Read-only access to a store, safe in DataLoader workers under fork and spawn.

The LMDB environment is opened lazily, per process (see ``envs.py``): one shared read-only env
per store and pid, closed before any fork and reopened on the next read, never pickled (spawn).
Transactions are short (one per read) so readers never pin old pages while a writer adds images.
Everything read is checked before it is used (meta fields, record headers: sizes, channels, label
indices); a store damaged on disk is reported as :class:`~autolit.store.damage.StoreDamaged`
naming the store and the record, never as a traceback or a SIGBUS.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import lmdb

from autolit.errors import UserError
from autolit.store import schema
from autolit.store.damage import DAMAGE_ERRORS, damaged, lmdb_failure
from autolit.store.envs import check_existing_store, close_reader_env, read_meta, reader_env, store_key
from autolit.store.policy import ImagePolicy
from autolit.store.splits import SPLITS, SplitPolicy

_BAD_VALUE = (ValueError, KeyError, TypeError, IndexError, struct.error)


@dataclass(frozen=True)
class StoreMeta:
    """What a store holds (read once when the reader is created)."""

    schema_version: int
    task: str
    labels: list[str]
    count: int
    per_label: dict[str, int]
    splits: dict[str, int]
    policy: ImagePolicy
    split: SplitPolicy
    fingerprint: str

    @classmethod
    def from_dict(cls, meta: dict) -> StoreMeta:
        """Build from the JSON ``meta`` value (ValueError/KeyError/TypeError when it is malformed)."""
        out = cls(
            schema_version=int(meta["schema_version"]), task=meta["task"], labels=list(meta["labels"]),
            count=int(meta["count"]), per_label=dict(meta["per_label"]), splits=dict(meta["splits"]),
            policy=ImagePolicy.from_dict(meta["policy"]), split=SplitPolicy.from_dict(meta["split"]),
            fingerprint=meta["fingerprint"],
        )
        if out.task not in schema.TASKS or not isinstance(meta["labels"], list) or \
                not all(isinstance(n, str) for n in out.labels):
            raise ValueError(f"task {out.task!r} / labels {out.labels!r} are not a store's")
        counts = [out.count, *out.splits.values(), *out.per_label.values()]
        if any(not isinstance(c, int) or c < 0 for c in counts) or set(out.splits) != set(SPLITS):
            raise ValueError(f"counts {out.count}, {out.splits}, {out.per_label} are out of range")
        return out

    @classmethod
    def load(cls, meta: dict, path: Path) -> StoreMeta:
        """:meth:`from_dict`, a malformed meta reported as a damaged store."""
        try:
            return cls.from_dict(meta)
        except UserError as exc:  # a policy field out of range: the file said so, not the user
            raise damaged(path, f"meta: {exc}") from None
        except _BAD_VALUE as exc:
            raise damaged(path, f"meta: {exc!r}") from None


class StoreReader:
    """Read records of a store; picklable, opens its LMDB environment lazily in each process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_existing_store(self.path)
        self._key = store_key(self.path)
        self.meta = StoreMeta.load(read_meta(self._env(), self.path), self.path)
        self._keys: dict[str | None, list[bytes]] = {}

    # ------------------------------------------------------------------ records
    def keys(self, split: str | None = None) -> list[bytes]:
        """Record keys of one split (or all), sorted by sha256: a deterministic order."""
        if split is not None and split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {SPLITS}")
        if split not in self._keys:
            if split is None:
                keys = [k for s in SPLITS for k in self.keys(s)]
                keys.sort(key=schema.sha_of_key)
            else:
                keys = self._scan(schema.record_prefix(split))
            self._keys[split] = keys
        return list(self._keys[split])

    def read(self, key: bytes) -> tuple[bytes, int | float]:
        """(encoded image bytes, label index or float target) of one record."""
        header, data = self.read_record(key)
        value = header["label"] if header["label"] is not None else header["target"]
        return data, value

    def read_record(self, key: bytes) -> tuple[dict, bytes]:
        """(checked header, encoded image bytes) of one record."""
        value = self._get(key)
        try:
            header, data = schema.unpack_record(value)
            self._check_header(header)
        except _BAD_VALUE as exc:  # a ValueError's text says it all; others need their type
            raise damaged(self.path, str(exc) if isinstance(exc, ValueError) else exc, key) from None
        return header, data

    def record(self, key: bytes) -> dict:
        """Full metadata of one record (everything but the image bytes)."""
        header, _ = self.read_record(key)
        if header["label"] is not None:
            header["label_name"] = self.meta.labels[header["label"]]
        return header

    def get_aux(self, name: str) -> dict | None:
        """An auxiliary JSON blob stored with :func:`~autolit.store.auxiliary.put_aux`, or None."""
        key = schema.aux_key(name)
        raw = self._txn_get(key)
        try:
            return None if raw is None else json.loads(raw)
        except ValueError as exc:
            raise damaged(self.path, exc, key) from None

    def info(self) -> dict:
        """The summary ``python -m autolit.store info --json`` prints."""
        m = self.meta
        return {
            "path": str(self.path), "schema_version": m.schema_version, "task": m.task,
            "count": m.count, "labels": list(m.labels), "per_label": dict(m.per_label),
            "splits": dict(m.splits), "fingerprint": m.fingerprint,
            "policy": m.policy.to_dict(), "split_policy": m.split.to_dict(),
        }

    def close(self) -> None:
        """Close this process's read env of the store (a later read reopens it)."""
        close_reader_env(self._key)

    def __len__(self) -> int:
        return self.meta.count

    def __getstate__(self) -> dict:
        # Key lists can be megabytes; workers that need them rescan (cheap) instead.
        return {**self.__dict__, "_keys": {}}

    # ---------------------------------------------------------------- internals
    def _check_header(self, header: dict) -> None:
        """Sizes, channels and labels within what this store can hold (ValueError otherwise)."""
        if not isinstance(header, dict) or not all(isinstance(header.get(k), str) for k in ("sha256", "split")):
            raise ValueError("header lacks sha256/split")
        side = self.meta.policy.max_side
        width, height, channels = header["width"], header["height"], header["channels"]
        if not all(isinstance(v, int) and 1 <= v <= side for v in (width, height)):
            raise ValueError(f"header says {width!r}x{height!r} pixels; this store keeps 1..{side}")
        if channels not in (1, 3):
            raise ValueError(f"header says {channels!r} channels; stores hold 1 or 3")
        label, target = header["label"], header["target"]
        if self.meta.task == "classification":
            if not isinstance(label, int) or not 0 <= label < len(self.meta.labels):
                raise ValueError(f"label index {label!r} is not one of the {len(self.meta.labels)} labels")
        elif not isinstance(target, (int, float)) or not math.isfinite(target):
            raise ValueError(f"regression target {target!r} is not a finite number")

    def _env(self) -> lmdb.Environment:
        # Looked up on every transaction (a dict hit): after a fork or unpickling in a spawned
        # worker this opens the env of the current process; an open writer's env is borrowed.
        return reader_env(self._key)

    def _begin(self) -> lmdb.Transaction:
        env = self._env()
        try:
            try:
                return env.begin(buffers=False)
            except lmdb.MapResizedError:
                env.set_mapsize(0)  # the writer grew the map: adopt the new size
                return env.begin(buffers=False)
        except lmdb.Error as exc:  # e.g. every reader slot taken: not damage
            raise lmdb_failure(self.path, exc) from None

    def _txn_get(self, key: bytes) -> bytes | None:
        txn = self._begin()
        try:
            return txn.get(key)
        except lmdb.Error as exc:
            raise lmdb_failure(self.path, exc, key) from None
        finally:
            txn.abort()

    def _get(self, key: bytes) -> bytes:
        value = self._txn_get(key)
        if value is None:
            raise KeyError(f"record {key!r} not in store {self.path}")
        return value

    def _scan(self, prefix: bytes) -> list[bytes]:
        out: list[bytes] = []
        txn = self._begin()
        try:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for key in cursor.iternext(keys=True, values=False):
                    if not key.startswith(prefix):
                        break
                    if len(key) != len(prefix) + 64:  # s/<split>/<64 hex digits>
                        raise damaged(self.path, f"malformed record key {bytes(key)!r}")
                    out.append(bytes(key))
            return out
        except DAMAGE_ERRORS as exc:
            after = f" after key {out[-1].decode('ascii', 'replace')}" if out else ""
            raise damaged(self.path, f"{exc}{after}") from None
        except lmdb.Error as exc:
            raise lmdb_failure(self.path, exc) from None
        finally:
            txn.abort()

