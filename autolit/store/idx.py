"""Reading MNIST-style IDX files (``.gz`` or raw) with checks that name the offending file."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from autolit.errors import UserError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)
PARTS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_part(folder: Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``folder``: raw or ``.gz``, ``-idx`` or ``.idx`` spelling."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file into a uint8 array, validating magic number and length."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise UserError(f"{path} is not an IDX file (only {len(raw)} bytes); pass the MNIST folder")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise UserError(
            f"{path} is not an IDX {kind} file (magic 0x{found:08x}, expected 0x{magic:08x}); "
            "pass a folder holding the original MNIST IDX files"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise UserError(
            f"{path} is truncated or padded: {len(raw)} bytes, expected {expected} for shape {dims}; "
            "download the file again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_part(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray, Path] | None:
    """(images, labels, images file) of ``train`` or ``t10k``; None when the part is absent."""
    images_stem, labels_stem = PARTS[part]
    images_path, labels_path = find_part(folder, images_stem), find_part(folder, labels_stem)
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        missing = images_stem if images_path is None else labels_stem
        raise UserError(f"{folder} has no {missing}(.gz) to go with the {part} files; add it")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise UserError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; "
            "use matching files"
        )
    return images, labels, images_path


def _read_bytes(path: Path) -> bytes:
    """File content, gunzipped when it is gzip (by magic, not by name)."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path} is a damaged gzip file ({exc}); download it again") from None
