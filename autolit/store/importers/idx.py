"""MNIST-style IDX files (``.gz`` or raw): ``train-*`` split train/val by hash, ``t10k-*`` pinned to test.

The header's dimensions are read before the body and checked (a product in Python integers, the
image size and the memory it would take), then exactly that many bytes are read: a tampered or
truncated header, a padded file or a gzip bomb is refused naming the file, never allocated.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from autolit.errors import UserError
from autolit.store.importers.base import (
    IMPORT_BATCH, STORE_OPTIONS, WORKERS, Importer, existing_dir, run_jobs,
)
from autolit.store.policy import ImagePolicy
from autolit.store.pool import Job, encode_arrays
from autolit.store.report import ImportReport
from autolit.store.splits import SplitPolicy
from autolit.system import memory_bytes

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)
PARTS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MAX_IMAGE_PIXELS = ImagePolicy().max_pixels  # the store's default
_ARRAY_CHUNK, _POOL_MIN_ARRAYS = 4096, 8192
# Copies of the pixels an import holds at its peak: each file's array, their concatenation, and the
# chunks handed to the encoders (pool.ingest cuts them all before the first is encoded).
_COPIES = 3


def import_idx(folder: str | Path, store_path: str | Path, *, progress: bool = False,
               policy: ImagePolicy | None = None, batch_size: int = IMPORT_BATCH,
               workers: int | None = None, split_policy: SplitPolicy | None = None) -> ImportReport:
    """Import ``train-*`` (train/val by hash; a new store gets val 0.1, test 0) and ``t10k-*`` (test)."""
    folder = existing_dir(folder, "MNIST IDX folder")
    parts = {part: read_part(folder, part) for part in ("train", "t10k")}
    if all(p is None for p in parts.values()):
        raise UserError(
            f"{folder} holds no IDX files; expected train-images-idx3-ubyte(.gz) and "
            "train-labels-idx1-ubyte(.gz) (and the t10k-* pair)"
        )
    _check_memory(folder, sum(p[0].nbytes for p in parts.values() if p is not None))
    label_values = sorted({int(v) for p in parts.values() if p is not None for v in np.unique(p[1])})
    jobs: list[Job] = []
    stacks = []
    for part, found in parts.items():
        if found is None:
            continue
        images, labels, images_path = found
        split = "test" if part == "t10k" else None
        src = str(images_path.resolve())
        jobs += [Job(f"{src}#{i}", label=str(int(v)), split=split) for i, v in enumerate(labels)]
        stacks.append(images)
    pixels = np.concatenate(stacks)  # (N, rows, cols)
    return run_jobs(store_path, str(folder), jobs, pixels, encode_arrays, task="classification",
                    labels=[str(v) for v in label_values], policy=policy, batch_size=batch_size,
                    workers=workers, pool_min=_POOL_MIN_ARRAYS, chunk=_ARRAY_CHUNK, progress=progress,
                    split=split_policy or SplitPolicy(val=0.1, test=0.0))


def find_part(folder: Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``folder``: raw or ``.gz``, ``-idx`` or ``.idx`` spelling."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file into a uint8 array, validating magic number, dimensions and length."""
    try:
        with _open(path) as fh:
            return _read_idx(fh, path, magic)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path} cannot be read ({type(exc).__name__}: {exc}); download it again") from None


def _read_idx(fh: BinaryIO, path: Path, magic: int) -> np.ndarray:
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    head = fh.read(4)
    if len(head) < 4:
        raise UserError(f"{path} is not an IDX file (only {len(head)} bytes); pass the MNIST folder")
    (found,) = struct.unpack(">I", head)
    if found != magic:
        raise UserError(
            f"{path} is not an IDX {kind} file (magic 0x{found:08x}, expected 0x{magic:08x}); "
            "pass a folder holding the original MNIST IDX files"
        )
    ndim = magic & 0xFF
    raw_dims = fh.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise UserError(f"{path} is truncated inside its header; download the file again")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    _check_dims(path, dims)
    count = math.prod(dims)  # Python ints: a tampered header cannot overflow
    body = fh.read(count + 1)  # one byte more tells a padded file from an exact one
    if len(body) != count:
        expected = 4 + 4 * ndim + count
        got = f"{4 + 4 * ndim + len(body)}" + (" or more" if len(body) > count else "")
        raise UserError(f"{path} is truncated or padded: {got} bytes, expected {expected} for shape "
                        f"{dims}; download the file again")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _check_dims(path: Path, dims: tuple[int, ...]) -> None:
    """Refuse dimensions no real IDX file has, before allocating anything."""
    if len(dims) == 3 and (dims[1] * dims[2] == 0 or dims[1] * dims[2] > MAX_IMAGE_PIXELS):
        raise UserError(f"{path} header says images of {dims[1]}x{dims[2]} pixels, which is out of range "
                        f"(1..{MAX_IMAGE_PIXELS} pixels); the file is damaged: download it again")
    need = math.prod(dims)
    if need * _COPIES > memory_bytes() // 2:
        raise UserError(f"{path} header says {dims} = {need / 2**30:.1f} GiB of pixels; importing it holds "
                        f"{_COPIES} copies, more than half of this machine's {memory_bytes() / 2**30:.1f} GiB "
                        "of memory; the file is damaged or too big to import at once: split it")


def _check_memory(folder: Path, pixels: int) -> None:
    """The files together, before the copies of the import are made (each file passed alone)."""
    if pixels * _COPIES > memory_bytes() // 2:
        raise UserError(f"{folder}: its IDX files hold {pixels / 2**30:.2f} GiB of pixels together; importing "
                        f"them holds {_COPIES} copies, more than half of this machine's "
                        f"{memory_bytes() / 2**30:.1f} GiB of memory; import the train and t10k files "
                        "one at a time (from separate folders into the same --store)")


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


def _open(path: Path) -> BinaryIO:
    """The file's content stream, gunzipped when it is gzip (by magic, not by name)."""
    with path.open("rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else path.open("rb")


IMPORTER = Importer(
    name="idx", help="MNIST-style IDX files (t10k-* pinned to test)", run=import_idx,
    arg="DIR", arg_help="folder with MNIST IDX files", options=(*STORE_OPTIONS, WORKERS),
)
