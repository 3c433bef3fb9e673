"""Helpers shared by the store tests (imported as ``storehelpers``; tests/store is on sys.path)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def png_bytes(seed: int, size: tuple[int, int] = (8, 8), mode: str = "L", fmt: str = "PNG") -> bytes:
    """A small random image, different for every seed."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], len(mode))
    im = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def make_class_folder(root: Path, per_class: int = 5, classes: tuple[str, ...] = ("a", "b"),
                      seed: int = 0) -> Path:
    """``root/<class>/<i>.png`` with distinct random PNGs."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / name / f"{i:04d}.png").write_bytes(png_bytes(seed + 1000 * c + i))
    return root


def subprocess_env() -> dict[str, str]:
    """Environment for child pythons: the repo importable, whatever the parent's sys.path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def shared_data() -> Path | None:
    """``<repo>/../shared/data`` (or $AUTOLIT_SHARED_DATA) when present."""
    env = os.environ.get("AUTOLIT_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    return path if path.is_dir() else None
