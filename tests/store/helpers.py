"""Helpers shared by the store tests (``from tests.store.helpers import ...``)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
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


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` and its files unwritable for this user, root included.

    chmod for ordinary users; root ignores permission bits, so for root the immutable attribute
    (``chattr +i``, which binds root too) is used, and the test skips where it is unavailable.
    """
    paths = [folder, *sorted(folder.iterdir())]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p in paths:
                p.chmod(modes[p])
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *map(str, paths)],
                                                        capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr +i support: cannot make a folder read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


def slow_import_script(*, sleep: float, batch_size: int, workers: int) -> str:
    """``python -c`` code importing folder argv[1] into store argv[2], sleeping ``sleep`` s after
    every commit so a test can act (kill it) while it runs."""
    return textwrap.dedent(f"""
        import sys, time
        from autolit.store import writer
        commit = writer.StoreWriter.flush
        def slow_flush(self):
            commit(self)
            time.sleep({sleep})
        writer.StoreWriter.flush = slow_flush
        from autolit.store.importers import import_folder
        import_folder(sys.argv[1], sys.argv[2], batch_size={batch_size}, workers={workers})
    """)
