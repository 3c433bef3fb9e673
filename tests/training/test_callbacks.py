"""BestValMetrics (the val metrics of the best epoch by the monitor), and the pictures the fit logs:
the confusion matrix and the sample sheet, checked on their pixels at the size they are shown."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autolit.store.sheet import RIGHT, WRONG, caption_px
from autolit.training.callbacks import BestValMetrics, sample_sheet
from autolit.training.figures import DPI, confusion_figure, contrast, short_name, text_colour, to_rgb


def _epochs(callback: BestValMetrics, values: list[float]) -> dict[str, float]:
    for i, value in enumerate(values):
        metrics = {"val/loss": torch.tensor(value), "val/acc": torch.tensor(float(i))}
        callback.on_validation_end(SimpleNamespace(sanity_checking=False, callback_metrics=metrics), None)
    return callback.metrics


def test_a_nan_epoch_is_never_the_best():
    assert _epochs(BestValMetrics("val/loss", "min"), [float("nan"), 0.5, 0.7])["val/acc"] == 1.0
    assert _epochs(BestValMetrics("val/loss", "min"), [0.5, float("nan"), float("inf")])["val/acc"] == 0.0
    assert _epochs(BestValMetrics("val/loss", "max"), [float("-inf"), 0.2])["val/acc"] == 1.0


def test_only_nan_epochs_still_report_their_metrics():
    """A trial whose every validation is NaN is pruned as non-finite, not taken for a missing metric."""
    metrics = _epochs(BestValMetrics("val/loss", "min"), [float("nan"), float("nan")])
    assert set(metrics) == {"val/loss", "val/acc"}


# ---- the pictures: drawn for the size they are shown at (TensorBoard's card, the search report) ----

def _matrix(n: int, per_class: int, seed: int = 0) -> np.ndarray:
    """A plausible confusion matrix: most of each row on the diagonal, the rest spread (and 0s)."""
    rng = np.random.default_rng(seed)
    rows = [rng.multinomial(per_class, np.where(np.arange(n) == i, 0.8, 0.2 / (n - 1))) for i in range(n)]
    return np.array(rows)


def _counts(fig) -> list:
    return [t for t in fig.axes[0].texts if (t.get_gid() or "").startswith("count-")]


def _pixel_contrast(rgb: np.ndarray, fig, text) -> float:
    """Contrast between a count's cell (its background, next to the cell's corner) and the glyph
    pixel farthest from it: what a reader's eye gets, anti-aliasing included."""
    height = rgb.shape[0]
    box = text.get_window_extent(fig.canvas.get_renderer())
    x0, x1, y0, y1 = int(box.x0), int(box.x1) + 1, height - int(box.y1) - 1, height - int(box.y0)
    i, j = (int(v) for v in text.get_gid().split("-")[1:])
    cell = fig.axes[0].transData.transform([(j - 0.45, i - 0.45)])[0]  # near the cell's top-left corner
    background = rgb[height - int(cell[1]), int(cell[0])] / 255
    glyph = rgb[y0:y1, x0:x1].reshape(-1, 3) / 255
    return max(contrast(background, p) for p in glyph[::1])


@pytest.mark.parametrize(("n", "per_class"), [(2, 76), (10, 36), (10, 1500), (20, 60)])
def test_counts_are_12px_or_more_and_contrast_with_their_cells(n, per_class):
    """Was: 6 px black counts on dark blue cells. Now a font scaled to the cell, white on dark."""
    matrix = _matrix(n, per_class)
    fig = confusion_figure(matrix, [f"c{i}" for i in range(n)], epochs=3)
    rgb = to_rgb(fig)
    counts = _counts(fig)
    assert len(counts) == n * n and sorted(int(t.get_text()) for t in counts) == sorted(matrix.ravel())
    colours = {t.get_color() for t in counts}
    assert colours == {"white", "black"}  # both kinds of cell are there: each got its own ink
    for text in counts:
        assert text.get_fontsize() * DPI / 72 >= 12, text.get_fontsize()
        assert _pixel_contrast(rgb, fig, text) >= 4.5, (text.get_text(), text.get_gid())


def test_the_ink_is_the_one_that_contrasts_more():
    assert text_colour((0.03, 0.19, 0.42)) == "white" and text_colour((0.97, 0.98, 1.0)) == "black"
    for grey in np.linspace(0, 1, 41):  # the rule never leaves a count under 4.5:1 on any cell
        ink = (1, 1, 1) if text_colour((grey, grey, grey)) == "white" else (0, 0, 0)
        assert contrast(ink, (grey, grey, grey)) >= 4.5


@pytest.mark.parametrize("n", [2, 10, 20, 100])
def test_the_figure_fits_the_tensorboard_card_with_12px_labels(n):
    """At most ~700 px wide (TensorBoard shows it at native size up to its card's width)."""
    fig = confusion_figure(_matrix(n, 30), [f"class_with_a_long_name_{i}" for i in range(n)])
    height, width, _ = to_rgb(fig).shape
    assert 400 <= width <= 720 and height <= 800, (width, height)
    ax = fig.axes[0]
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.xaxis.label, ax.yaxis.label]:
        assert label.get_fontsize() * DPI / 72 >= 12, label.get_text()


def test_axes_are_named_by_class_and_titled_with_split_and_accuracy():
    matrix = np.array([[64, 12], [9, 67]])
    fig = confusion_figure(matrix, ["ants", "bees"], split="val", epochs=4)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ants", "bees"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ants", "bees"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    titles = [t.get_text() for t in fig.texts]
    assert titles[0] == "val confusion matrix after 4 epochs: accuracy 0.8618 (131/152)"
    assert "cells: counts" in titles[1] and "share of the true class" in titles[1]


def test_a_hundred_classes_name_every_kth_class_and_leave_the_counts_out():
    names = [f"class_with_a_long_name_{i}" for i in range(100)]
    fig = confusion_figure(_matrix(100, 30), names)
    ax = fig.axes[0]
    shown = [t.get_text() for t in ax.get_yticklabels()]
    step = 100 // len(shown) + (100 % len(shown) > 0)
    assert 1 < step <= 5 and shown == [short_name(names[i]) for i in range(0, 100, step)]
    assert len(set(shown)) == len(shown)  # cut in the middle: the distinguishing end survives
    assert all(len(s) <= 14 for s in shown) and shown[1].endswith(str(step))
    assert _counts(fig) == [] and "counts omitted (100 classes" in fig.texts[1].get_text()
    assert f"one class in {step} named" in fig.texts[1].get_text()


def _tiles(sheet: np.ndarray, colour: str) -> int:
    """Pixels of exactly ``colour`` (a frame or caption ink) in a sheet."""
    rgb = tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))
    return int((sheet == rgb).all(axis=-1).sum())


def test_sample_sheet_labels_each_tile_and_marks_right_and_wrong():
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 2:6, 2:6] = 255
    y = torch.tensor([0, 1, 2, 0])
    names = ["bar", "dot", "ring"]
    unjudged = np.asarray(sample_sheet(x, y, names, None, cell=72, cols=8))
    assert _tiles(unjudged, RIGHT) == _tiles(unjudged, WRONG) == 0
    judged = np.asarray(sample_sheet(x, y, names, [0, 2, 2, 0], cell=72, cols=8))
    assert judged.shape[1] == 4 * (72 + 8) and judged.shape[0] > unjudged.shape[0]  # a second caption line
    frame = 4 * (72 + 2 * 3) * 3  # one tile's frame: 4 sides of (cell + 2 frames) x 3 px
    assert _tiles(judged, WRONG) > frame and _tiles(judged, RIGHT) > 3 * frame  # 1 wrong, 3 right
    assert caption_px(72) >= 13


def test_a_regression_sheet_shows_values_and_judges_nothing():
    x = torch.full((3, 1, 8, 8), 128, dtype=torch.uint8)
    y = torch.tensor([0.5, 1.25, 3.0])
    bare = np.asarray(sample_sheet(x, y, [], None, cell=72, cols=8))
    judged = np.asarray(sample_sheet(x, y, [], [0.4, 1.3, 2.0], cell=72, cols=8))
    assert judged.shape[0] > bare.shape[0]  # the prediction's line
    assert _tiles(judged, RIGHT) == _tiles(judged, WRONG) == 0  # no right/wrong for a value
