"""The confusion matrix as a picture sized for where it is read: TensorBoard's image card and the
search report show PNGs at their native size, so the figure is laid out in pixels.

Cells are coloured by the share of their true class (row-normalised, 0..1, so one colour means the
same recall in every run, however the classes are balanced) and hold the raw counts. Counts are
drawn in a font scaled to the cell, white on dark cells and black on light ones (whichever
contrasts more with the cell, by WCAG relative luminance); when the cells are too small for a
12 px count (more than 20 classes, fewer with long names) the counts are left out and the
subtitle says so, and with more classes than fit one label per line only every k-th is named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

DPI = 100
MIN_TEXT_PX = 12      # smallest text drawn: counts below this are omitted rather than shrunk
LABEL_PX = 14         # tick labels (class names)
AXIS_PX = 14          # "true class" / "predicted class" and the title
MAX_COUNT_PX = 22
MAX_NAME = 14         # characters of a class name kept on an axis
MAX_WIDTH = 700       # px: TensorBoard's image card (about 500-700 px) shows up to this at native size
CMAP = "Blues"


def px_to_pt(px: float) -> float:
    """Matplotlib font sizes are in points; at :data:`DPI` one point is DPI/72 pixels."""
    return px * 72 / DPI


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour with channels in 0..1."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG contrast ratio of two sRGB colours (1 = none, 21 = black on white)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour(background: Sequence[float]) -> str:
    """``"white"`` or ``"black"``, whichever reads better on ``background`` (never under 4.58:1)."""
    return "white" if contrast(background, (1, 1, 1)) >= contrast(background, (0, 0, 0)) else "black"


def short_name(name: object) -> str:
    """A class name cut to :data:`MAX_NAME` characters for an axis: its start and its end, as names
    that differ only in a suffix (``class_12``, ``class_13``) must stay apart."""
    text = str(name)
    if len(text) <= MAX_NAME:
        return text
    head = (MAX_NAME - 1) // 2
    return text[:head] + "…" + text[len(text) - (MAX_NAME - 1 - head):]


def count_px(cell_px: float, largest: int) -> float:
    """Font size of the counts: about half a cell, narrow enough for the widest count."""
    digits = len(str(max(int(largest), 0)))
    return min(MAX_COUNT_PX, 0.5 * cell_px, 0.9 * cell_px / (0.62 * digits))


def _side_px(n: int) -> int:
    """The matrix's own square: grows with the class count, stays inside a 700 px card."""
    return int(min(max(44 * n, 360), 480))


@dataclass
class _Layout:
    """Where everything goes, in pixels (matplotlib wants fractions of the figure)."""

    labels: list[str]
    shown: list[int]          # the classes named on the axes
    rotation: int             # of the x labels
    side: float               # the matrix's square
    count_px: float | None    # None: counts left out
    left: float
    bottom: float
    width: float
    height: float
    title: str
    subtitle: str

    def box(self, x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        return x / self.width, y / self.height, w / self.width, h / self.height


def _layout(renderer, matrix: np.ndarray, names: Sequence[object], split: str, epochs: int | None) -> _Layout:
    n = len(matrix)
    labels = [short_name(x) for x in names] if len(names) == n else [str(i) for i in range(n)]
    widest = max(_text_width(renderer, label, LABEL_PX) for label in labels)
    left = 12 + AXIS_PX * 1.4 + widest + 10
    right = 16 + 14 + 32 + AXIS_PX * 1.4 + 8  # gap, colour bar, its tick labels, its label, margin
    side = min(_side_px(n), MAX_WIDTH - left - right)  # long names take from the matrix, not the card
    cell = side / n
    font = count_px(cell, int(matrix.max(initial=0)))
    step = max(1, math.ceil(LABEL_PX * 1.3 / cell))  # one label per line of text at most
    rotation = 0 if widest <= 0.9 * cell * step else (45 if n <= 40 else 90)
    x_extent = LABEL_PX * 1.3 if rotation == 0 else widest * math.sin(math.radians(rotation)) + LABEL_PX
    title, subtitle = _titles(matrix, split, epochs, font >= MIN_TEXT_PX, cell, step)
    title_w = max(_text_width(renderer, title, AXIS_PX), _text_width(renderer, subtitle, LABEL_PX))
    top = 14 + AXIS_PX * 1.4 + LABEL_PX * 1.4 + 10
    bottom = 10 + x_extent + 8 + AXIS_PX * 1.4 + 10
    width = max(left + side + right, title_w + 24)
    left += (width - (left + side + right)) / 2  # a wide title: centre the matrix under it
    return _Layout(labels, list(range(0, n, step)), rotation, side, font if font >= MIN_TEXT_PX else None,
                   left, bottom, width, top + side + bottom, title, subtitle)


def confusion_figure(matrix: np.ndarray, names: Sequence[object], *, split: str = "val",
                     epochs: int | None = None):
    """A matplotlib ``Figure`` (Agg, no pyplot state) of ``matrix`` (rows: true, cols: predicted)
    after ``epochs`` training epochs (counted from 1, as the search's trial lines count them)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix, dtype=np.int64)
    fig = Figure(dpi=DPI)
    FigureCanvasAgg(fig)
    at = _layout(fig.canvas.get_renderer(), matrix, names, split, epochs)
    fig.set_size_inches(at.width / DPI, at.height / DPI)

    ax = fig.add_axes(at.box(at.left, at.bottom, at.side, at.side))
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap=CMAP, vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
    names_shown = [at.labels[i] for i in at.shown]
    ax.set_xticks(at.shown, names_shown, fontsize=px_to_pt(LABEL_PX), rotation=at.rotation,
                  ha="right" if at.rotation == 45 else "center",
                  rotation_mode="anchor" if at.rotation == 45 else "default")
    ax.set_yticks(at.shown, names_shown, fontsize=px_to_pt(LABEL_PX))
    ax.set_xlabel("predicted class", fontsize=px_to_pt(AXIS_PX))
    ax.set_ylabel("true class", fontsize=px_to_pt(AXIS_PX))
    if at.count_px is not None:
        rgba = image.cmap(image.norm(share))
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=px_to_pt(at.count_px),
                    color=text_colour(rgba[i, j]), gid=f"count-{i}-{j}")
    bar = fig.colorbar(image, cax=fig.add_axes(at.box(at.left + at.side + 16, at.bottom, 14, at.side)))
    bar.ax.tick_params(labelsize=px_to_pt(MIN_TEXT_PX))
    bar.set_label("share of the true class", fontsize=px_to_pt(LABEL_PX))
    fig.text(0.5, 1 - 12 / at.height, at.title, ha="center", va="top", fontsize=px_to_pt(AXIS_PX), weight="bold")
    fig.text(0.5, 1 - (14 + AXIS_PX * 1.4) / at.height, at.subtitle, ha="center", va="top",
             fontsize=px_to_pt(LABEL_PX))
    return fig


def _titles(matrix: np.ndarray, split: str, epochs: int | None, show_counts: bool, cell: float,
            step: int) -> tuple[str, str]:
    total, right = int(matrix.sum()), int(np.trace(matrix))
    accuracy = f"accuracy {right / total:.4f} ({right}/{total})" if total else "no samples"
    after = f" after {epochs} epoch{'s' if epochs != 1 else ''}" if epochs is not None else ""
    title = f"{split} confusion matrix{after}: {accuracy}"
    what = "cells: counts; colour: share of the true class" if show_counts else (
        f"counts omitted ({len(matrix)} classes, {cell:.0f} px cells); colour: share of the true class")
    if step > 1:
        what += f"; one class in {step} named"
    return title, what


def _text_width(renderer, text: str, size_px: float) -> float:
    from matplotlib.font_manager import FontProperties

    width, _, _ = renderer.get_text_width_height_descent(text, FontProperties(size=px_to_pt(size_px)), ismath=False)
    return float(width)


def to_rgb(fig) -> np.ndarray:
    """Draw ``fig`` and return its pixels, ``(H, W, 3)`` uint8 (what TensorBoard stores)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
