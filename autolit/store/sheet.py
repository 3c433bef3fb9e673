"""A contact sheet of image tiles, each captioned in a font readable where the sheet is shown.

Shared by ``python -m autolit.store show`` (one caption line: the label) and the fit's TensorBoard
sample grid (the true label, then the prediction in green or red with a frame of the same colour).
Sheets are viewed at their native size (an image viewer, TensorBoard's image card), so captions are
at least :data:`MIN_CAPTION_PX` pixels tall whatever the tile size, and a caption too wide for its
column is cut to fit with an ellipsis rather than running into its neighbour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

MIN_CAPTION_PX, MAX_CAPTION_PX = 13, 20
PAD = 4
FRAME = 3              # px of the correct/wrong frame around a tile
INK = "#202020"
RIGHT, WRONG = "#1a7f37", "#c62828"  # both over 4.5:1 on white


@dataclass
class Tile:
    """One image and its caption lines, each ``(text, colour)``; ``frame`` colours its border."""

    image: Image.Image
    lines: list[tuple[str, str]] = field(default_factory=list)
    frame: str | None = None


def caption_px(cell: int) -> int:
    """Caption font size for ``cell`` px tiles: a seventh of the tile, never under 13 px."""
    return int(min(max(round(cell * 0.15), MIN_CAPTION_PX), MAX_CAPTION_PX))


def font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own scalable font (bundled, no system fonts needed) at ``size_px``."""
    return ImageFont.load_default(size=size_px)


def fit_text(text: str, face, width: float) -> str:
    """``text``, cut with an ellipsis until it is at most ``width`` px wide in ``face``."""
    if face.getlength(text) <= width:
        return text
    while text and face.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…" if text else ""


def thumb(image: Image.Image, cell: int) -> Image.Image:
    """Scale an image to fit a ``cell`` square on white (nearest for tiny images so digits stay crisp)."""
    im = image.convert("RGB")
    if im.size == (cell, cell):
        return im
    scale = cell / max(im.size)
    size = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    canvas = Image.new("RGB", (cell, cell), "white")
    canvas.paste(im.resize(size, resample), ((cell - size[0]) // 2, (cell - size[1]) // 2))
    return canvas


def contact_sheet(tiles: list[Tile], cell: int, cols: int | None = None) -> Image.Image:
    """Tiles in rows of ``cols`` (default: a square grid), each ``cell`` px, captions under them."""
    cols = cols or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    size = caption_px(cell)
    face = font(size)
    line_h = round(size * 1.3)
    n_lines = max((len(t.lines) for t in tiles), default=0)
    col_w = max(cell, 4 * size)  # a tiny cell still gets a caption a few letters wide
    row_h = cell + n_lines * line_h + 2
    sheet = Image.new("RGB", (cols * (col_w + 2 * PAD), rows * (row_h + 2 * PAD)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, tile in enumerate(tiles):
        x = PAD + (i % cols) * (col_w + 2 * PAD)
        y = PAD + (i // cols) * (row_h + 2 * PAD)
        left = x + (col_w - cell) // 2
        sheet.paste(thumb(tile.image, cell), (left, y))
        if tile.frame:
            box = (left - FRAME, y - FRAME, left + cell + FRAME - 1, y + cell + FRAME - 1)
            draw.rectangle(box, outline=tile.frame, width=FRAME)
        for k, (text, colour) in enumerate(tile.lines):
            line = fit_text(text, face, col_w)
            top = y + cell + 2 + k * line_h + (line_h - size) // 2
            draw.text((x + col_w / 2, top), line, fill=colour, font=face, anchor="mt")
    return sheet
