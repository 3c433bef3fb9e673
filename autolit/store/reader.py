"""Read-only access to a store, safe in DataLoader workers under fork and spawn.

The LMDB environment is opened lazily, per process (see ``envs.py``): one shared read-only env
per store and pid, closed before any fork and reopened on the next read, never pickled (spawn).
Transactions are short (one per read) so readers never pin old pages while a writer adds images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lmdb

from autolit.store import schema
from autolit.store.envs import (
    check_existing_store, close_reader_env, open_env, read_meta, reader_env, store_key, write_txn,
    writer_env,
)
from autolit.store.policy import ImagePolicy
from autolit.store.splits import SPLITS, SplitPolicy

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
        """Build from the JSON ``meta`` value."""
        return cls(
            schema_version=int(meta["schema_version"]), task=meta["task"], labels=list(meta["labels"]),
            count=int(meta["count"]), per_label=dict(meta["per_label"]), splits=dict(meta["splits"]),
            policy=ImagePolicy.from_dict(meta["policy"]), split=SplitPolicy.from_dict(meta["split"]),
            fingerprint=meta["fingerprint"],
        )


class StoreReader:
    """Read records of a store; picklable, opens its LMDB environment lazily in each process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_existing_store(self.path)
        self._key = store_key(self.path)
        self.meta = StoreMeta.from_dict(read_meta(self._env(), self.path))
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
        header, data = schema.unpack_record(self._get(key))
        value = header["label"] if header["label"] is not None else header["target"]
        return data, value

    def record(self, key: bytes) -> dict:
        """Full metadata of one record (everything but the image bytes)."""
        header, _ = schema.unpack_record(self._get(key))
        if header["label"] is not None:
            header["label_name"] = self.meta.labels[header["label"]]
        return header

    def get_aux(self, name: str) -> dict | None:
        """An auxiliary JSON blob stored with :func:`put_aux`, or None."""
        raw = self._txn_get(schema.aux_key(name))
        return None if raw is None else json.loads(raw)

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
    def _env(self) -> lmdb.Environment:
        # Looked up on every transaction (a dict hit): after a fork or unpickling in a spawned
        # worker this opens the env of the current process; an open writer's env is borrowed.
        return reader_env(self._key)

    def _begin(self) -> lmdb.Transaction:
        env = self._env()
        try:
            return env.begin(buffers=False)
        except lmdb.MapResizedError:
            env.set_mapsize(0)  # the writer grew the map: adopt the new size
            return env.begin(buffers=False)

    def _txn_get(self, key: bytes) -> bytes | None:
        txn = self._begin()
        try:
            return txn.get(key)
        finally:
            txn.abort()

    def _get(self, key: bytes) -> bytes:
        value = self._txn_get(key)
        if value is None:
            raise KeyError(f"record {key!r} not in store {self.path}")
        return value

    def _scan(self, prefix: bytes) -> list[bytes]:
        txn = self._begin()
        try:
            cursor = txn.cursor()
            out: list[bytes] = []
            if cursor.set_range(prefix):
                for key in cursor.iternext(keys=True, values=False):
                    if not key.startswith(prefix):
                        break
                    out.append(bytes(key))
            return out
        finally:
            txn.abort()


def put_aux(path: str | Path, name: str, value: dict) -> None:
    """Store a small JSON blob next to the data (one short write txn; not in the fingerprint)."""
    path = Path(path)
    check_existing_store(path)
    key = store_key(path)
    borrowed = writer_env(key)  # a writer open in this process: write through its env
    if borrowed is None:
        close_reader_env(key)  # LMDB allows one env per store and process
    env = borrowed or open_env(path, readonly=False, map_size=1 << 20)
    try:
        write_txn(env, lambda txn: txn.put(schema.aux_key(name), schema.dumps(value)))
    finally:
        if borrowed is None:
            env.close()
