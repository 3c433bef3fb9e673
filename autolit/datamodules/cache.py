"""Decoded cache: every record decoded and resized once into one uint8 array, reused by every run.

Layout: ``<store>/cache/decoded-<fingerprint[:16]>-<size>px-<channels>c-<rule>/`` holding
``images.npy`` ``(N, C, S, S)`` uint8, ``targets.npy`` and ``splits.json`` (split -> [start, stop),
records grouped by split in store key order). The key includes the store fingerprint, so a store
that gains images gets a new cache and a stale one is never read. It is built in a temporary folder
and renamed into place, so a crash never leaves half a cache. Parallel trials that need the same
cache take a lock beside it (``.decoded-….lock``, ``fcntl.flock``: the kernel releases it when its
holder dies, however it dies): the first builds, the others wait and then open what it built.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from autolit.datamodules.datasets import StoreDataset, stack_batch, worker_init
from autolit.datamodules.limits import cache_bytes, check_cache
from autolit.datamodules.preprocess import RULE_TAG
from autolit.errors import UserError
from autolit.store import SPLITS, StoreReader


@dataclass
class DecodedCache:
    """A built cache, opened memory-mapped."""

    path: Path
    images: np.ndarray
    targets: np.ndarray
    ranges: dict[str, tuple[int, int]]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        start, stop = self.ranges[name]
        return self.images[start:stop], self.targets[start:stop]


def cache_dir(reader: StoreReader, size: int, channels: int) -> Path:
    return reader.path / "cache" / f"decoded-{reader.meta.fingerprint[:16]}-{size}px-{channels}c-{RULE_TAG}"


def open_cache(path: Path) -> DecodedCache:
    """Open a built cache memory-mapped (``get_or_build`` checks it against the store: ``limits.check_cache``)."""
    ranges = {k: tuple(v) for k, v in json.loads((path / "splits.json").read_text()).items()}
    return DecodedCache(path, np.load(path / "images.npy", mmap_mode="r"),
                        np.load(path / "targets.npy", mmap_mode="r"), ranges)


def get_or_build(reader: StoreReader, size: int, channels: int, num_workers: int = 0) -> DecodedCache:
    """Open the cache for (store content, size, channels), building it first if needed.

    Only one process builds a given cache: another that needs it meanwhile waits on the lock,
    then finds it built and opens it.
    """
    final = cache_dir(reader, size, channels)
    if not (final / "splits.json").exists():
        with build_lock(final):
            if not (final / "splits.json").exists():  # not built while we waited
                try:
                    _build(reader, size, channels, final, num_workers)
                except OSError as exc:
                    raise _unwritable(final, exc, reader, size, channels) from None
    return check_cache(final, reader, size, channels, open_cache)


@contextlib.contextmanager
def build_lock(final: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<cache parent>/.<cache name>.lock`` (blocks while another holds it)."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(final.parent / f".{final.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _unwritable(final, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock (as the process's death would)


def _unwritable(final: Path, exc: OSError, reader: StoreReader | None = None, size: int = 0,
                channels: int = 0) -> UserError:
    """A decoded cache that cannot be written (read-only store, disk full) as a fixable message."""
    need = ""
    if reader is not None:
        need = f" (it needs about {cache_bytes(reader, size, channels) / 2**20:.0f} MB)"
    what = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return UserError(f"data.cache: cannot write the decoded cache {final}{need}: {what}; free space or make "
                     "the store folder writable, or set data.cache: none (decode from the store every epoch)")


def _build(reader: StoreReader, size: int, channels: int, final: Path, num_workers: int) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=final.parent))
    try:
        counts = [len(reader.keys(s)) for s in SPLITS]
        total = sum(counts)
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(total, channels, size, size))
        _reserve(tmp / "images.npy")  # a full disk fails here, not as SIGBUS mid-write
        dtype = np.float32 if reader.meta.task == "regression" else np.int64
        targets = np.zeros(total, dtype=dtype)
        ranges, offset = {}, 0
        for split, count in zip(SPLITS, counts):
            ranges[split] = (offset, offset + count)
            loader = DataLoader(StoreDataset(reader, split, size, channels), batch_size=256,
                                num_workers=num_workers, collate_fn=stack_batch, worker_init_fn=worker_init)
            for x, y in loader:
                images[offset:offset + len(x)] = x.numpy()
                targets[offset:offset + len(x)] = y.numpy()
                offset += len(x)
        images.flush()
        del images
        np.save(tmp / "targets.npy", targets)
        (tmp / "splits.json").write_text(json.dumps(ranges))
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished the same cache first: theirs is identical
            pass
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _reserve(path: Path) -> None:
    """Allocate a sparse file's blocks now (``posix_fallocate``), so ENOSPC is an OSError."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except (AttributeError, OSError) as exc:  # no fallocate here (non-Linux, some filesystems)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise
    finally:
        os.close(fd)


def to_device(cache: DecodedCache, split: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy one split of the cache onto ``device`` (device mode).

    The memory map is read-only: on the CPU the split is copied (a tensor must own writable
    memory), elsewhere ``.to(device)`` copies it anyway, so torch's non-writable warning is moot.
    """
    return _tensor(cache.split(split)[0], device), _tensor(cache.split(split)[1], device)


def _tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    if torch.device(device).type == "cpu":
        return torch.from_numpy(np.array(array))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)
