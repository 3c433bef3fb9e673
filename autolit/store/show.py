"""A labelled contact sheet of sample images from a store (Pillow only, no matplotlib)."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image

from autolit.errors import UserError, one_line
from autolit.store.damage import damaged
from autolit.store.reader import StoreReader
from autolit.store.sheet import INK, Tile, contact_sheet, thumb

MAX_N, MAX_CELL = 4096, 512  # a 4096-image sheet of 512 px cells is already ~9 GB of pixels: cap there


def render_grid(reader: StoreReader, *, n: int = 64, cell: int = 96, split: str | None = None,
                seed: int = 0) -> Image.Image:
    """Draw ``n`` records (a seeded sample) in a square grid, each captioned with its label/target."""
    keys = reader.keys(split)
    if not keys:
        where = f"split {split!r} of " if split else ""
        raise UserError(f"{where}store {reader.path} has no images to show; import some first")
    keys = sorted(random.Random(seed).sample(keys, min(n, len(keys))))
    tiles = []
    for key in keys:
        data, value = reader.read(key)
        try:
            image = thumb(Image.open(io.BytesIO(data)), cell)  # now: 4096 full-size photos would not fit in memory
        except Exception as exc:  # noqa: BLE001 - any decoder failure on stored bytes means damage
            raise damaged(reader.path, f"image bytes do not decode: {one_line(exc)}", key) from None
        tiles.append(Tile(image, [(_caption(reader, value), INK)]))
    return contact_sheet(tiles, cell)


def save_grid(store: str | Path, out: str | Path, *, n: int = 64, cell: int = 96,
              split: str | None = None, seed: int = 0) -> Path:
    """Render a grid of ``store`` and save it as ``out`` (format from the extension)."""
    out = Path(out)
    if not 1 <= n <= MAX_N:
        raise UserError(f"--n {n} is out of range; show 1..{MAX_N} images")
    if not 8 <= cell <= MAX_CELL:
        raise UserError(f"--cell {cell} is out of range; use 8..{MAX_CELL} pixels")
    if out.suffix.lower() not in {".png", ".jpg", ".jpeg", ".webp"}:
        raise UserError(f"--out {out} must end in .png, .jpg or .webp")
    if not out.parent.is_dir():
        raise UserError(f"folder {out.parent} for --out does not exist; create it first")
    sheet = render_grid(StoreReader(store), n=n, cell=cell, split=split, seed=seed)
    try:
        sheet.save(out)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror or one_line(exc)}); "
                        "fix: pick a folder you can write to") from None
    return out


def _caption(reader: StoreReader, value: int | float) -> str:
    if reader.meta.task == "classification":
        return str(reader.meta.labels[int(value)])  # cut to the cell's width when drawn
    return f"{float(value):.2f}"
