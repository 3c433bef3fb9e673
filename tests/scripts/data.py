"""Inputs the scripts' smallest modes read: the shared data when present, else small synthetic stand-ins.

The stand-ins have the shared data's layout (MNIST-named IDX files; hymenoptera's train/<label>/*.jpg),
so a script runs the same code on either; only its figures differ.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


def write_idx_folder(folder: Path, n_train: int = 2200, n_test: int = 500) -> Path:
    """MNIST-named IDX files of 28x28 images: each label draws a bar at its own height."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label: 2 * label + 6, 4:24] += 150
        (folder / f"{stem}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())
    return folder


def mnist_folder(tmp: Path) -> Path:
    """../shared/data/mnist, else a synthetic IDX folder of its layout under ``tmp``."""
    real = SHARED / "mnist"
    return real if real.is_dir() else write_idx_folder(tmp / "mnist")


def photo_folder(tmp: Path, per_label: int = 20) -> Path:
    """../shared/data/hymenoptera_data, else ``train/{ants,bees}/*.jpg`` of noise photos under ``tmp``."""
    real = SHARED / "hymenoptera_data"
    if (real / "train" / "ants").is_dir():
        return real
    rng = np.random.default_rng(0)
    for label in ("ants", "bees"):
        folder = tmp / "photos" / "train" / label
        folder.mkdir(parents=True)
        for i in range(per_label):
            pixels = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}.jpg", quality=85)
    return tmp / "photos"
