"""The contact sheet ``store show`` and the fit's sample grid draw: captions readable and kept to
their own column."""

from __future__ import annotations

import numpy as np
from PIL import Image

from autolit.store.sheet import INK, PAD, Tile, caption_px, contact_sheet, fit_text, font


def test_a_caption_too_wide_for_its_tile_is_cut_to_fit():
    face = font(caption_px(72))
    cut = fit_text("a_very_long_label_name_indeed", face, 72)
    assert cut.endswith("…") and face.getlength(cut) <= 72 and fit_text("dot", face, 72) == "dot"


def test_captions_are_13px_or_more_and_stay_in_their_column():
    """Was: a 10 px font and names cut at 16 characters, which ran into the next tile at 96 px."""
    cell = 96
    tiles = [Tile(Image.new("L", (8, 8), 255), [("Anas_platyrhynchos_domesticus", INK)]) for _ in range(3)]
    sheet = np.asarray(contact_sheet(tiles, cell, cols=3).convert("L"))
    assert min(caption_px(c) for c in (8, 32, 96, 512)) >= 13
    caption = sheet[PAD + cell + 2:]  # below the tiles: only captions are drawn there
    inked = caption.min(axis=0) < 128
    pitch = cell + 2 * PAD
    for gap in range(1, 3):  # the padding between two columns holds no ink
        assert not inked[gap * pitch - PAD: gap * pitch + PAD].any()
    assert inked[:pitch].any() and inked[2 * pitch:].any()  # and every column has its caption
    glyph_rows = np.flatnonzero((caption < 128).any(axis=1))
    assert glyph_rows.max() - glyph_rows.min() + 1 >= 12  # letters with ascenders/descenders: ≥ 12 px tall
