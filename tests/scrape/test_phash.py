"""dHash near-duplicate detection on real photos."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageEnhance

from autolit.scrape.phash import NearDupIndex, dhash, dhash_bytes, hamming


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.mark.realdata
def test_same_picture_is_near_and_other_pictures_are_far(photos: dict) -> None:
    images = [Image.open(io.BytesIO(data)).convert("RGB") for _, data in photos["ants"][:8]]
    base = dhash(images[0])
    smaller = images[0].resize((images[0].width // 2, images[0].height // 2))
    brighter = ImageEnhance.Brightness(images[0]).enhance(1.15)
    assert hamming(base, dhash_bytes(_jpeg(smaller, 50))) <= 6
    assert hamming(base, dhash(brighter)) <= 6
    assert min(hamming(base, dhash(other)) for other in images[1:]) > 6


def test_index_threshold_and_empty() -> None:
    index = NearDupIndex(threshold=3)
    assert index.nearest(0) is None and not index.is_near_duplicate(0)
    index.add(0b1111)
    index.add(1 << 63)
    assert index.nearest(0b0111) == 1 and index.is_near_duplicate(0b0111)
    assert index.nearest((1 << 63) | 0b1) == 1
    assert not index.is_near_duplicate(0xFFFF_0000_0000_0000)
    assert len(index) == 2
