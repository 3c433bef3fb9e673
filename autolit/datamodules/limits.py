"""Sizes that cannot fit are refused up front, naming the key and the memory they would need.

``data.image_size: 100000`` used to get the fit OOM-killed (exit 137) or a full disk to SIGBUS the
decoded-cache build; here the batch, the decoded cache and the device copy are sized from the
config and the store's count before anything is allocated, and compared with what the machine has
(:func:`autolit.system.memory_bytes`, the free disk space, the device's free memory). A
decoded cache read back from disk is checked against the store before it is served.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autolit.errors import UserError, one_line
from autolit.store import SPLITS, StoreReader
from autolit.system import memory_bytes

# Bytes per pixel of a batch on the host: the uint8 images plus the float32 copy normalisation makes.
BATCH_BYTES_PER_PIXEL = 1 + 4


def gib(n: float) -> str:
    """``n`` bytes in GiB, for messages."""
    return f"{n / 2**30:.1f} GiB"


def check_batch_memory(image_size: int | None, channels: int, batch_size: int) -> None:
    """One batch (uint8 + float32) must fit in half the machine's memory (the model needs the rest)."""
    if image_size is None:
        return
    need = batch_size * channels * image_size ** 2 * BATCH_BYTES_PER_PIXEL
    have = memory_bytes()
    if need > have // 2:
        raise UserError(
            f"data.image_size {image_size} with data.batch_size {batch_size} needs {gib(need)} of memory for "
            f"one batch ({channels}x{image_size}x{image_size} pixels per image, as uint8 and float32), more than "
            f"half of this machine's {gib(have)}; use a smaller data.image_size (e.g. 224) or data.batch_size")


def cache_bytes(reader: StoreReader, size: int, channels: int) -> int:
    """Bytes of the decoded cache of this store at this size: ``(N, C, S, S)`` uint8."""
    return reader.meta.count * channels * size * size


def fitting_cache_mode(reader: StoreReader, size: int, channels: int, mode: str, *, asked: bool,
                       cache_dir: Path, device_free: int | None = None) -> str:
    """``mode`` if it fits; else ``none`` (mode picked by ``auto``, with a warning) or a UserError
    (a mode the config asked for) naming the key, the size needed and what there is."""
    if mode == "none":
        return mode
    problem = _cache_problem(reader, size, channels, mode, cache_dir, device_free)
    if problem is None:
        return mode
    if asked:
        raise UserError(f"data.cache: {mode}: {problem}")
    warnings.warn(f"data.cache auto: {problem}; decoding from the store each epoch instead (cache: none)")
    return "none"


def _cache_problem(reader: StoreReader, size: int, channels: int, mode: str, cache_dir: Path,
                   device_free: int | None) -> str | None:
    need = cache_bytes(reader, size, channels)
    if mode == "device":
        have = memory_bytes() if device_free is None else device_free
        if need > have // 2:
            return (f"data.image_size {size} makes the decoded data set {gib(need)}, more than half of the "
                    f"device's {gib(have)}; use cache: decoded (memory-mapped from disk) or a smaller data.image_size")
    if (cache_dir / "splits.json").exists():
        return None  # built already: nothing to write
    parent = _existing_parent(cache_dir)
    if not os.access(parent, os.W_OK):
        return (f"the decoded cache is written under {cache_dir.parent}, but {parent} is read-only; "
                "use data.cache: none, or copy the store to a writable folder")
    free = shutil.disk_usage(parent).free
    if need > free:
        return (f"data.image_size {size} makes the decoded cache {gib(need)}, but {parent} has {gib(free)} free; "
                "free disk space, use data.cache: none, or a smaller data.image_size")
    return None


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_cache(path: Path, reader: StoreReader, size: int, channels: int, opener: Callable[[Path], Any]) -> Any:
    """Open a built decoded cache with ``opener`` and check it against the store before serving it.

    The cache is derived data: a tampered or truncated one is reported with the fix (delete it, the
    next run rebuilds it), never served with wrong shapes or read past its end.
    """
    try:
        cache = opener(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _bad_cache(path, one_line(exc)) from None
    counts = [len(reader.keys(s)) for s in SPLITS]
    total = sum(counts)
    if tuple(cache.images.shape) != (total, channels, size, size) or cache.targets.shape != (total,):
        raise _bad_cache(path, f"images {tuple(cache.images.shape)} / targets {tuple(cache.targets.shape)}, "
                               f"the store needs {(total, channels, size, size)} / {(total,)}")
    offset = 0
    for split, count in zip(SPLITS, counts):
        if tuple(cache.ranges.get(split, ())) != (offset, offset + count):
            raise _bad_cache(path, f"splits.json range of {split} is {cache.ranges.get(split)}, "
                                   f"the store has [{offset}, {offset + count})")
        offset += count
    return cache


def _bad_cache(path: Path, detail: str) -> UserError:
    return UserError(f"decoded cache {path} is damaged ({detail}); delete that folder "
                     "(the next run rebuilds it from the store)")
