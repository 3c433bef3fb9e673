"""scikit-learn's bundled 8x8 digits (1,797 images, no download): the offline default data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autolit.errors import UserError
from autolit.store.importers.base import IMPORT_BATCH, STORE_OPTIONS, Importer, Option, run_jobs
from autolit.store.policy import ImagePolicy
from autolit.store.pool import Job, encode_arrays
from autolit.store.report import ImportReport
from autolit.store.splits import SplitPolicy

DIGITS_VARIANTS = ("digits", "parity", "rotation")
ROTATION_SIZE = 32          # rotation variant: 8x8 digits upscaled so rotation keeps detail
ROTATION_MAX_DEGREES = 45.0
ROTATION_SEED = 0
_ARRAY_CHUNK = 4096


def import_digits(store_path: str | Path, *, variant: str = "digits", progress: bool = False,
                  policy: ImagePolicy | None = None, batch_size: int = IMPORT_BATCH,
                  split_policy: SplitPolicy | None = None) -> ImportReport:
    """Import scikit-learn's bundled 8x8 digits.

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
    return run_jobs(store_path, name, jobs, pixels, encode_arrays, task=task, labels=labels, policy=policy,
                    batch_size=batch_size, workers=1, pool_min=0, chunk=_ARRAY_CHUNK, progress=progress,
                    split=split_policy)


def _rotate_digits(pixels: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Upscale each digit and rotate it by a seeded angle; returns (images, angles)."""
    from PIL import Image

    rng = np.random.default_rng(ROTATION_SEED)
    angles = [round(float(a), 2) for a in rng.uniform(-ROTATION_MAX_DEGREES, ROTATION_MAX_DEGREES,
                                                      size=len(pixels))]
    out = np.empty((len(pixels), ROTATION_SIZE, ROTATION_SIZE), dtype=np.uint8)  # (N, 32, 32)
    for i, (img, angle) in enumerate(zip(pixels, angles)):
        big = Image.fromarray(img, mode="L").resize((ROTATION_SIZE, ROTATION_SIZE), Image.Resampling.BILINEAR)
        out[i] = np.asarray(big.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=0))
    return out, angles


IMPORTER = Importer(
    name="digits", help="scikit-learn's bundled 8x8 digits (no download)", run=import_digits,
    options=(Option("variant", str, "digits (0-9), parity (even/odd) or rotation (regression)",
                    choices=DIGITS_VARIANTS), *STORE_OPTIONS),
    aliases={"digits": {}, "digits-parity": {"variant": "parity"}, "digits-rotation": {"variant": "rotation"}},
    example="{digits: {variant: parity}}",
)
