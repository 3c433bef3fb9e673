"""A labelled contact sheet of sample images from a store (Pillow only, no matplotlib)."""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from autolit.errors import UserError, one_line
from autolit.store.damage import damaged
from autolit.store.reader import StoreReader

_CAPTION_H = 14
_PAD = 4
MAX_N, MAX_CELL = 4096, 512  # a 4096-image sheet of 512 px cells is already ~9 GB of pixels: cap there


def render_grid(reader: StoreReader, *, n: int = 64, cell: int = 96, split: str | None = None,
                seed: int = 0) -> Image.Image:
    """Draw ``n`` records (a seeded sample) in a square grid, each captioned with its label/target."""
    keys = reader.keys(split)
    if not keys:
        where = f"split {split!r} of " if split else ""
        raise UserError(f"{where}store {reader.path} has no images to show; import some first")
    keys = sorted(random.Random(seed).sample(keys, min(n, len(keys))))
    cols = math.ceil(math.sqrt(len(keys)))
    rows = math.ceil(len(keys) / cols)
    sheet = Image.new("RGB", (cols * (cell + _PAD) + _PAD, rows * (cell + _CAPTION_H + _PAD) + _PAD), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, key in enumerate(keys):
        data, value = reader.read(key)
        x = _PAD + (i % cols) * (cell + _PAD)
        y = _PAD + (i // cols) * (cell + _CAPTION_H + _PAD)
        try:
            thumb = _thumb(data, cell)
        except Exception as exc:  # noqa: BLE001 - any decoder failure on stored bytes means damage
            raise damaged(reader.path, f"image bytes do not decode: {one_line(exc)}", key) from None
        sheet.paste(thumb, (x, y))
        draw.text((x, y + cell + 1), _caption(reader, value), fill="black", font=font)
    return sheet


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


def _thumb(data: bytes, cell: int) -> Image.Image:
    """Scale an image to fit a cell (nearest for tiny images so digits stay crisp)."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    scale = cell / max(im.size)
    size = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    canvas = Image.new("RGB", (cell, cell), "white")
    canvas.paste(im.resize(size, resample), ((cell - size[0]) // 2, (cell - size[1]) // 2))
    return canvas


def _caption(reader: StoreReader, value: int | float) -> str:
    if reader.meta.task == "classification":
        return str(reader.meta.labels[int(value)])[:16]
    return f"{float(value):.2f}"
