"""The single writer of a store: batched, crash-safe, deduplicating.

Each batch is ONE LMDB write transaction holding its records, their dedup-index and source
entries, and the updated meta (counts, labels, fingerprint accumulator). A crash therefore loses
at most the open batch and never leaves half a record or a record without its meta update.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lmdb

from autolit.errors import UserError
from autolit.store import schema
from autolit.store.damage import damaged, lmdb_failure, unwritable
from autolit.store.envs import (
    acquire_writer_lock, check_new_store_location, close_writer_env, is_store, open_writer_env,
    read_meta, release_writer_lock, write_txn,
)
from autolit.store.policy import ImagePolicy, ImageRejected, NormalizedImage, normalize_image
from autolit.store.reader import StoreMeta
from autolit.store.splits import SPLITS, SplitPolicy, split_for

@dataclass
class AddResult:
    """Outcome of one add: ``status`` is added, duplicate or rejected."""

    status: str
    sha256: str | None
    reason: str | None
    detail: str = ""


class StoreWriter:
    """Create or extend a store; use as a context manager so the last batch is committed.

    ``task``, ``policy`` and ``split`` left as None mean "the store's own" (for a new store:
    classification, ``ImagePolicy()``, ``SplitPolicy()``); given values must match an existing
    store. ``batch_size`` counts images handled (added, duplicate or rejected) per transaction.
    """

    def __init__(
        self, path: str | Path, *, task: str | None = None, labels: Sequence[str] | None = None,
        policy: ImagePolicy | None = None, split: SplitPolicy | None = None,
        batch_size: int = 512, map_size: int = 1 << 28,
    ) -> None:
        self.path = Path(path)
        if task is not None and task not in schema.TASKS:
            raise UserError(f"task {task!r} is not supported; use one of {list(schema.TASKS)}")
        check_new_store_location(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise unwritable(self.path, exc) from None
        self.batch_size = max(1, int(batch_size))
        self._lock_fd = acquire_writer_lock(self.path)
        self._env: lmdb.Environment | None = None
        self._rtxn: lmdb.Transaction | None = None
        self._records: list[tuple[bytes, bytes]] = []
        self._shas: dict[str, str] = {}       # sha → split, pending in the open batch
        self._sources: dict[str, str] = {}    # source → outcome, pending in the open batch
        try:
            existed = is_store(self.path)
            self._env = open_writer_env(self.path, map_size)
            self._meta = self._open_meta(existed, task, labels, policy, split)
        except BaseException:
            self._release()  # a refused open must not keep the lock or the env
            raise
        self._next = copy.deepcopy(self._meta)
        self.policy = ImagePolicy.from_dict(self._meta["policy"])
        self.split = SplitPolicy.from_dict(self._meta["split"])

    # ----------------------------------------------------------------- public API
    @property
    def labels(self) -> list[str]:
        """Label names in index order, including labels added in the open batch."""
        return list(self._next["labels"])

    @property
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return self._meta["task"]

    @property
    def meta(self) -> dict:
        """Meta as it will be after the open batch commits (a copy)."""
        return copy.deepcopy(self._next)

    def add_image(
        self, data: bytes, *, label: str | None = None, target: float | None = None, source: str,
        split: str | None = None, provenance: dict | None = None,
    ) -> AddResult:
        """Normalise ``data`` with the store's policy and add it (see :meth:`add_normalized`)."""
        try:
            img = normalize_image(data, self.policy)
        except ImageRejected as rej:
            self.mark_source(source, f"rejected:{rej.reason}")
            return AddResult("rejected", None, rej.reason, rej.detail)
        return self.add_normalized(
            img, label=label, target=target, source=source, split=split, provenance=provenance
        )

    def add_normalized(
        self, img: NormalizedImage, *, label: str | None = None, target: float | None = None,
        source: str, split: str | None = None, provenance: dict | None = None,
    ) -> AddResult:
        """Add an already-normalised image; duplicates (same stored bytes) are not added again."""
        label, target = self._check_label(label, target)
        if self.has_image(img.sha256):
            self.mark_source(source, f"duplicate:{img.sha256}")
            return AddResult("duplicate", img.sha256, "duplicate", f"same content as {img.sha256[:12]}")
        split = split or split_for(img.sha256, self.split)
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {SPLITS}")
        header = {
            "sha256": img.sha256, "split": split, "width": img.width, "height": img.height,
            "channels": img.channels, "source": source, "provenance": provenance or {},
            "label": self._label_index(label) if label is not None else None,
            "target": target,
        }
        self._records.append((schema.record_key(split, img.sha256), schema.pack_record(header, img.data)))
        self._shas[img.sha256] = split
        self._sources[source] = f"added:{img.sha256}"
        self._count(img.sha256, label, target, split)
        self._maybe_flush()
        return AddResult("added", img.sha256, None)

    def has_image(self, sha256: str) -> bool:
        """True if a record with this content hash exists (committed or in the open batch)."""
        if sha256 in self._shas:
            return True
        try:
            return self._read_txn().get(schema.hash_key(sha256)) is not None
        except lmdb.Error as exc:
            raise lmdb_failure(self.path, exc, schema.hash_key(sha256)) from None

    def seen_source(self, source: str) -> bool:
        """True if ``source`` was recorded before (committed or in the open batch)."""
        return self.source_outcome(source) is not None

    def source_outcome(self, source: str) -> str | None:
        """The recorded outcome of a source (``added:<sha>``, ``duplicate:<sha>``, ``rejected:<reason>``)."""
        if source in self._sources:
            return self._sources[source]
        key = schema.source_key(source)
        try:
            raw = self._read_txn().get(key)
            return None if raw is None else bytes(raw).decode("utf-8")
        except lmdb.Error as exc:
            raise lmdb_failure(self.path, exc, key) from None
        except UnicodeDecodeError as exc:
            raise damaged(self.path, exc, key) from None

    def mark_source(self, source: str, outcome: str) -> None:
        """Remember a source even when it was rejected (so a resumed scrape skips it)."""
        self._sources[source] = outcome
        self._maybe_flush()

    def flush(self) -> None:
        """Commit the open batch now (one write transaction; grows the map when full)."""
        if not self._records and not self._sources and self._next == self._meta:
            return
        self._end_read_txn()
        write_txn(self._env, self._apply_batch)
        self._meta = copy.deepcopy(self._next)
        self._records.clear()
        self._shas.clear()
        self._sources.clear()

    def close(self) -> None:
        """Commit the open batch, close the environment and release the writer lock."""
        if self._lock_fd is None:
            return
        try:
            self.flush()
        finally:
            self._release()

    def _release(self) -> None:
        """Close the env and drop the writer lock (no commit)."""
        self._end_read_txn()
        if self._env is not None:
            close_writer_env(self.path)
            self._env = None
        if self._lock_fd is not None:
            release_writer_lock(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        # Records in the open batch are complete, so committing them is safe even on error.
        self.close()

    # ------------------------------------------------------------------ internals
    def _open_meta(self, existed: bool, task: str | None, labels: Sequence[str] | None,
                   policy: ImagePolicy | None, split: SplitPolicy | None) -> dict:
        """Load the meta of an existing store (checking compatibility) or write a new one.

        An existing LMDB database without meta is adopted only when it is empty (a crash before
        the first commit); one holding anything else is someone else's and is refused."""
        meta = read_meta(self._env, self.path, missing_ok=True) if existed else None
        if meta is None:
            meta = schema.new_meta(task or "classification", _unique(labels or []), (policy or ImagePolicy()).to_dict(),
                                   (split or SplitPolicy()).to_dict())
            write_txn(self._env, lambda txn: txn.put(schema.META_KEY, schema.dumps(meta)))
            return meta
        StoreMeta.load(meta, self.path)  # a tampered meta is refused before it is extended
        if task is not None:
            _check_same(self.path, "task", meta["task"], task)
        if policy is not None:
            _check_same(self.path, "image policy", meta["policy"], policy.to_dict())
        if split is not None:
            _check_same(self.path, "split policy", meta["split"], split.to_dict())
        new = [name for name in _unique(labels or []) if name not in meta["labels"]]
        if new:  # existing labels keep their indices; new names are appended
            meta["labels"].extend(new)
            meta["per_label"].update({name: 0 for name in new})
            meta["fingerprint"] = schema.compute_fingerprint(meta)
            write_txn(self._env, lambda txn: txn.put(schema.META_KEY, schema.dumps(meta)))
        return meta

    def _check_label(self, label: str | None, target: float | None) -> tuple[str | None, float | None]:
        """Classification records carry a label name; regression records a finite target."""
        if self.task == "classification":
            if label is None or target is not None:
                raise ValueError("a classification store needs label=<name> and no target")
            return str(label), None
        if target is None or label is not None:
            raise ValueError("a regression store needs target=<float> and no label")
        return None, schema.check_target(target)

    def _label_index(self, label: str) -> int:
        labels = self._next["labels"]
        if label not in labels:
            labels.append(label)
            self._next["per_label"][label] = 0
        return labels.index(label)

    def _count(self, sha: str, label: str | None, target: float | None, split: str) -> None:
        """Update counts and the fingerprint accumulator of the pending meta."""
        nxt = self._next
        nxt["count"] += 1
        nxt["splits"][split] += 1
        if label is not None:
            nxt["per_label"][label] += 1
        term = schema.fingerprint_term(sha, schema.label_token(label, target), split)
        nxt["accumulator"] = schema.add_term(nxt["accumulator"], term)

    def _maybe_flush(self) -> None:
        # Every add or mark records its source, so this counts images handled (added, duplicate
        # or rejected) in the open batch.
        if max(len(self._records), len(self._sources)) >= self.batch_size:
            self.flush()

    def _apply_batch(self, txn: lmdb.Transaction) -> None:
        for key, value in self._records:
            txn.put(key, value)
        for sha, split in self._shas.items():
            txn.put(schema.hash_key(sha), split.encode("ascii"))
        for source, outcome in self._sources.items():
            txn.put(schema.source_key(source), outcome.encode("utf-8"))
        self._next["fingerprint"] = schema.compute_fingerprint(self._next)
        txn.put(schema.META_KEY, schema.dumps(self._next))

    def _read_txn(self) -> lmdb.Transaction:
        """A read txn reused until the next commit (single writer: nothing else changes the DB)."""
        if self._rtxn is None:
            self._rtxn = self._env.begin(buffers=False)
        return self._rtxn

    def _end_read_txn(self) -> None:
        if self._rtxn is not None:
            self._rtxn.abort()
            self._rtxn = None


def _check_same(path: Path, what: str, stored: object, given: object) -> None:
    if stored != given:
        raise UserError(
            f"store {path} was built with {what} {stored}, but {given} was requested; "
            f"use the store's {what} (omit the option) or import into a new --store"
        )


def _unique(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if str(name) not in out:
            out.append(str(name))
    return out
