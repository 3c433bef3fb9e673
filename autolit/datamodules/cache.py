"""Decoded cache: every record decoded and resized once into one uint8 array, reused by every run.

Layout: ``<store>/cache/decoded-<fingerprint[:16]>-<size>px-<channels>c-<rule>/`` holding
``images.npy`` ``(N, C, S, S)`` uint8, ``targets.npy`` and ``splits.json`` (split -> [start, stop),
records grouped by split in store key order). The key includes the store fingerprint, so a store
that gains images gets a new cache and a stale one is never read. It is built in a temporary folder
and renamed into place, so a crash never leaves half a cache, and concurrent builders (parallel
trials) are harmless: the first rename wins.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from autolit.datamodules.datasets import StoreDataset, stack_batch, worker_init
from autolit.datamodules.limits import check_cache
from autolit.datamodules.preprocess import RULE_TAG
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
    ranges = {k: tuple(v) for k, v in json.loads((path / "splits.json").read_text()).items()}
    return DecodedCache(path, np.load(path / "images.npy", mmap_mode="r"),
                        np.load(path / "targets.npy", mmap_mode="r"), ranges)


def get_or_build(reader: StoreReader, size: int, channels: int, num_workers: int = 0) -> DecodedCache:
    """Open the cache for (store content, size, channels), building it first if needed."""
    final = cache_dir(reader, size, channels)
    if not (final / "splits.json").exists():
        _build(reader, size, channels, final, num_workers)
    return check_cache(final, reader, size, channels, open_cache)


def _build(reader: StoreReader, size: int, channels: int, final: Path, num_workers: int) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=final.parent))
    try:
        counts = [len(reader.keys(s)) for s in SPLITS]
        total = sum(counts)
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(total, channels, size, size))
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


def to_device(cache: DecodedCache, split: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy one split of the cache onto ``device`` (device mode)."""
    x, y = cache.split(split)
    return torch.from_numpy(np.ascontiguousarray(x)).to(device), torch.from_numpy(np.ascontiguousarray(y)).to(device)
