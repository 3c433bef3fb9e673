"""Tiny synthetic stores shared by the test packages: real LMDB stores, a few KB, built in well under a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autolit.store import StoreWriter, encode_array

LABELS = ["bar", "dot", "ring"]


def write_store(path: Path, n: int = 150, size: int = 8, labels=LABELS) -> Path:
    """Images a small CNN separates in a few epochs: each label draws a different shape."""
    rng = np.random.default_rng(0)
    with StoreWriter(path, labels=list(labels)) as writer:
        for i in range(n):
            k = i % len(labels)
            img = rng.integers(0, 40, (size, size), dtype=np.uint8)
            if k == 0:
                img[size // 2 - 1: size // 2 + 1, :] = 220
            elif k == 1:
                img[size // 2 - 1: size // 2 + 1, size // 2 - 1: size // 2 + 1] = 220
            else:
                img[[0, -1], :] = 220
                img[:, [0, -1]] = 220
            writer.add_normalized(encode_array(img), label=labels[k], source=f"synthetic/{i}")
    return path
