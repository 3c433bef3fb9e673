"""Importers: sklearn digits, MNIST IDX, image folders (one subfolder per class), CSV regression.

Each importer validates its input before creating anything, writes through one StoreWriter and
returns an :class:`ImportReport`. Re-running an import adds nothing (sources already seen are
skipped, and identical content is deduplicated by hash).
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np

from autolit.errors import UserError
from autolit.store.envs import is_store
from autolit.store.idx import read_part
from autolit.store.policy import ImagePolicy
from autolit.store.pool import (
    Job, default_workers, encode_arrays, ingest, iter_sorted_files, normalize_files, open_pool,
)
from autolit.store.report import MISSING, NO_LABEL, ImportReport
from autolit.store.splits import SPLITS, SplitPolicy
from autolit.store.writer import StoreWriter

DIGITS_VARIANTS = ("digits", "parity", "rotation")
ROTATION_SIZE = 32          # rotation variant: 8x8 digits upscaled so rotation keeps detail
ROTATION_MAX_DEGREES = 45.0
ROTATION_SEED = 0
_ARRAY_CHUNK, _FILE_CHUNK = 4096, 16
_POOL_MIN_ARRAYS, _POOL_MIN_FILES = 8192, 64  # below this a pool costs more than it saves
# Images per write transaction: each commit fsyncs, so big batches make bulk imports ~2x faster;
# a crash loses at most one batch, which the next run of the same import redoes.
IMPORT_BATCH = 2048

__all__ = ["ImportReport", "import_csv", "import_digits", "import_folder", "import_idx"]


def import_digits(store_path: str | Path, *, variant: str = "digits", progress: bool = False,
                  policy: ImagePolicy | None = None, batch_size: int = IMPORT_BATCH) -> ImportReport:
    """Import scikit-learn's bundled 8x8 digits (1,797 images; no download).

    Variants: ``digits`` (labels "0".."9"), ``parity`` (labels "even"/"odd"), ``rotation``
    (regression: each digit upscaled to 32x32 and rotated counter-clockwise by a seeded random
    angle in [-45, 45] degrees; target = the angle).
    """
    if variant not in DIGITS_VARIANTS:
        raise UserError(f"digits variant {variant!r} is unknown; use one of {list(DIGITS_VARIANTS)}")
    from sklearn.datasets import load_digits  # heavy import, only when needed

    data = load_digits()
    pixels = np.rint(data.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)  # 0..16 → 0..255
    targets = [int(t) for t in data.target]
    name = f"sklearn:digits:{variant}"
    if variant == "rotation":
        pixels, angles = _rotate_digits(pixels)
        jobs = [Job(f"{name}#{i}", target=a) for i, a in enumerate(angles)]
        labels, task = None, "regression"
    elif variant == "parity":
        jobs = [Job(f"{name}#{i}", label="odd" if t % 2 else "even") for i, t in enumerate(targets)]
        labels, task = ["even", "odd"], "classification"
    else:
        jobs = [Job(f"{name}#{i}", label=str(t)) for i, t in enumerate(targets)]
        labels, task = [str(d) for d in range(10)], "classification"
    return _run(store_path, name, jobs, pixels, encode_arrays, task=task, labels=labels, policy=policy,
                batch_size=batch_size, workers=1, pool_min=0, chunk=_ARRAY_CHUNK, progress=progress)


def import_idx(folder: str | Path, store_path: str | Path, *, progress: bool = False,
               policy: ImagePolicy | None = None, batch_size: int = IMPORT_BATCH,
               workers: int | None = None) -> ImportReport:
    """Import MNIST-style IDX files: ``train-*`` (train/val by hash) and ``t10k-*`` (pinned to test)."""
    folder = _existing_dir(folder, "MNIST IDX folder")
    parts = {part: read_part(folder, part) for part in ("train", "t10k")}
    if all(p is None for p in parts.values()):
        raise UserError(
            f"{folder} holds no IDX files; expected train-images-idx3-ubyte(.gz) and "
            "train-labels-idx1-ubyte(.gz) (and the t10k-* pair)"
        )
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
    pixels = np.concatenate(stacks)
    return _run(store_path, str(folder), jobs, pixels, encode_arrays, task="classification",
                labels=[str(v) for v in label_values], policy=policy, batch_size=batch_size,
                workers=workers, pool_min=_POOL_MIN_ARRAYS, chunk=_ARRAY_CHUNK,
                progress=progress, split=SplitPolicy(val=0.1, test=0.0))


def import_folder(folder: str | Path, store_path: str | Path, *, progress: bool = False,
                  policy: ImagePolicy | None = None, batch_size: int = IMPORT_BATCH,
                  workers: int | None = None, split: str | None = None,
                  split_policy: SplitPolicy | None = None) -> ImportReport:
    """Import ``folder/<label>/<image>`` (labels are the sorted subfolder names).

    ``split`` pins every image of the folder to one split (e.g. a data set's own ``val/`` folder
    as the test split, the way IDX pins t10k); ``None`` splits by content hash with the store's
    policy. ``split_policy`` sets that policy when this import creates the store.
    """
    if split is not None and split not in SPLITS:
        raise UserError(f"split {split!r} is not one of {', '.join(SPLITS)}; pin the folder to one of them "
                        "or leave split out to split by content hash")
    folder = _existing_dir(folder, "image folder")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = list(iter_sorted_files(folder))
    if not files:
        raise UserError(f"{folder} contains no files; expected {folder}/<label>/<image files>")
    if not classes:
        raise UserError(
            f"{folder} has no class subfolders; put images in {folder}/<label>/ (one folder per label)"
        )
    unlabelled = [f for f in files if len(f.relative_to(folder).parts) < 2]
    labelled = [f for f in files if len(f.relative_to(folder).parts) >= 2]
    jobs = [Job(str(f.resolve()), label=f.relative_to(folder).parts[0], split=split) for f in labelled]
    return _run(store_path, str(folder), jobs, [str(f) for f in labelled], normalize_files,
                task="classification", labels=classes, policy=policy, batch_size=batch_size,
                workers=workers, pool_min=_POOL_MIN_FILES, chunk=_FILE_CHUNK, split=split_policy,
                progress=progress, extra_skips=[(str(f), NO_LABEL) for f in unlabelled])


def import_csv(csv_file: str | Path, store_path: str | Path, *, progress: bool = False,
               policy: ImagePolicy | None = None, batch_size: int = IMPORT_BATCH,
               workers: int | None = None) -> ImportReport:
    """Import a regression set from ``path,target`` rows (paths relative to the CSV file)."""
    csv_file = Path(csv_file)
    if not csv_file.is_file():
        raise UserError(f"CSV file {csv_file} does not exist; pass a file of `path,target` rows")
    rows = _read_csv_rows(csv_file)
    if not rows:
        raise UserError(f"{csv_file} has no rows; expected `path,target` lines, e.g. img/001.png,3.5")
    present = [(p, t) for p, t in rows if p.is_file()]
    jobs = [Job(str(p.resolve()), target=t) for p, t in present]
    return _run(store_path, str(csv_file), jobs, [str(p) for p, _ in present], normalize_files,
                task="regression", labels=None, policy=policy, batch_size=batch_size,
                workers=workers, pool_min=_POOL_MIN_FILES, chunk=_FILE_CHUNK,
                progress=progress, extra_skips=[(str(p), MISSING) for p, _ in rows if not p.is_file()])


def _read_csv_rows(csv_file: Path) -> list[tuple[Path, float]]:
    """Parse and validate every row first, so a bad CSV imports nothing."""
    rows: list[tuple[Path, float]] = []
    with csv_file.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if len(cells) < 2 or not cells[1]:
                raise UserError(
                    f"{csv_file}:{line}: row {','.join(cells)!r} has no target; every row needs "
                    "`path,target`, e.g. images/001.png,3.5"
                )
            try:
                target = float(cells[1])
            except ValueError:
                if line == 1 and not rows:
                    continue  # a header row such as `path,target`
                raise UserError(
                    f"{csv_file}:{line}: target {cells[1]!r} is not a number; write e.g. 3.5"
                ) from None
            if not math.isfinite(target):
                raise UserError(f"{csv_file}:{line}: target {cells[1]!r} is not finite; use a real number")
            rows.append((csv_file.parent / cells[0], target))
    return rows


def _rotate_digits(pixels: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Upscale each digit and rotate it by a seeded angle; returns (images, angles)."""
    from PIL import Image

    rng = np.random.default_rng(ROTATION_SEED)
    angles = [round(float(a), 2) for a in rng.uniform(-ROTATION_MAX_DEGREES, ROTATION_MAX_DEGREES,
                                                      size=len(pixels))]
    out = np.empty((len(pixels), ROTATION_SIZE, ROTATION_SIZE), dtype=np.uint8)
    for i, (img, angle) in enumerate(zip(pixels, angles)):
        big = Image.fromarray(img, mode="L").resize((ROTATION_SIZE, ROTATION_SIZE), Image.Resampling.BILINEAR)
        out[i] = np.asarray(big.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=0))
    return out, angles


def _existing_dir(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist; check the path")
    if not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder; pass the folder that holds the data")
    return path


def _run(store_path: str | Path, source: str, jobs: list[Job], payloads, fn, *, task: str,
         labels: list[str] | None, policy: ImagePolicy | None, batch_size: int,
         workers: int | None, pool_min: int, chunk: int, progress: bool,
         split: SplitPolicy | None = None, extra_skips: list[tuple[str, str]] = ()) -> ImportReport:
    """Open the writer, ingest, and fill in the report.

    ``workers`` None means :func:`default_workers`; imports of fewer than ``pool_min`` jobs run
    inline, where a pool would cost more than it saves.
    """
    t0 = time.perf_counter()
    if len(jobs) < pool_min:
        workers = 1
    elif workers is None:
        workers = default_workers()
    store_path = Path(store_path)
    report = ImportReport(store=str(store_path), source=source)
    new_store = not is_store(store_path)
    with open_pool(workers) as pool, StoreWriter(
        store_path, task=task, labels=labels, policy=policy, split=split if new_store else None,
        batch_size=batch_size,
    ) as writer:
        for path, reason in extra_skips:
            report.note(reason, path)
        ingest(writer, report, jobs, payloads, fn, pool=pool, chunk=chunk,
               progress=progress, label=f"import {Path(source).name}")
        writer.flush()
        meta = writer.meta
    report.count, report.fingerprint = meta["count"], meta["fingerprint"]
    report.seconds = time.perf_counter() - t0
    return report
