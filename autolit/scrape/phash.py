"""Near-duplicate detection with a 64-bit difference hash (dHash).

dHash: shrink to 9x8 grey, one bit per horizontally adjacent pair (left brighter than right).
Robust to re-encoding, resizing and mild colour changes, which is what web duplicates are
(the same photo re-hosted as a smaller or recompressed JPEG); exact byte duplicates are caught
earlier by the store's sha256 dedup.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

DEFAULT_THRESHOLD = 6  # Hamming distance ≤ 6 of 64 bits: same picture, different encoding


def dhash(image: Image.Image) -> int:
    """64-bit dHash of ``image`` as an int."""
    grey = image.convert("L").resize((9, 8), Image.Resampling.BILINEAR, reducing_gap=2.0)
    pixels = np.asarray(grey, dtype=np.int16)          # (8, 9)
    bits = (pixels[:, :-1] > pixels[:, 1:]).flatten()   # (64,)
    return int("".join("1" if b else "0" for b in bits), 2)


def dhash_bytes(data: bytes) -> int:
    """dHash of an encoded image (the store's normalised bytes)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return dhash(image)


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


class NearDupIndex:
    """Hashes of kept images; answers "is this within ``threshold`` bits of one of them?".

    A linear scan over a numpy array: ~10 µs per 10k hashes, plenty for a scrape (a BK-tree
    would only pay off at millions of images). Thread-safe.
    """

    def __init__(self, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._hashes = np.zeros(0, dtype=np.uint64)
        self._pending: list[int] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._hashes) + len(self._pending)

    def add(self, value: int) -> None:
        """Remember a kept image's hash."""
        with self._lock:
            self._pending.append(value)

    def nearest(self, value: int) -> int | None:
        """Smallest Hamming distance to a kept hash, or None when the index is empty."""
        with self._lock:
            if self._pending:
                extra = np.array(self._pending, dtype=np.uint64)
                self._hashes = np.concatenate([self._hashes, extra])
                self._pending.clear()
            if not len(self._hashes):
                return None
            xor = self._hashes ^ np.uint64(value)
        counts = np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        return int(counts.min())

    def is_near_duplicate(self, value: int) -> bool:
        """True when some kept hash is within ``threshold`` bits of ``value``."""
        distance = self.nearest(value)
        return distance is not None and distance <= self.threshold
