"""Image policy: allow-list, bomb limit, truncation, modes, EXIF orientation, resizing, encoding."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from autolit.errors import UserError
from autolit.store.policy import ImagePolicy, ImageRejected, encode_array, normalize_image
from tests.store.helpers import png_bytes


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _reason(data: bytes, policy: ImagePolicy = ImagePolicy()) -> str:
    with pytest.raises(ImageRejected) as info:
        normalize_image(data, policy)
    return info.value.reason


def test_png_roundtrip_keeps_pixels_and_hashes_stored_bytes():
    img = normalize_image(png_bytes(1, (10, 6)))
    assert (img.width, img.height, img.channels, img.source_format) == (10, 6, 1, "PNG")
    assert img.sha256 == hashlib.sha256(img.data).hexdigest()
    original = np.asarray(Image.open(io.BytesIO(png_bytes(1, (10, 6)))))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(img.data))), original)


def test_output_is_deterministic():
    data = png_bytes(2, (40, 30), mode="RGB")
    assert normalize_image(data) == normalize_image(data)


def test_gif_is_not_allowed_by_default_but_can_be_allowed():
    gif = _encode(Image.new("P", (5, 5)), "GIF")
    assert _reason(gif) == "format_not_allowed"
    allowed = ImagePolicy(formats=frozenset({"GIF", "PNG"}))
    assert normalize_image(gif, allowed).channels == 3


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty"), (b"definitely not an image", "not_image"), (png_bytes(3, (64, 64))[:60], "truncated")],
)
def test_bad_bytes_are_rejected_with_a_reason(data, reason):
    assert _reason(data) == reason


def test_truncated_jpeg_is_rejected():
    data = _encode(Image.new("RGB", (64, 64), "red"), "JPEG")
    assert _reason(data[: len(data) // 2]) == "truncated"


def test_a_plugin_failing_its_own_way_rejects_the_file():
    """A DDS header with zeroed pixel-format flags makes Pillow raise NotImplementedError while it
    identifies the file: that file is rejected (not_image), the import goes on."""
    import struct

    header = struct.pack("<7I", 124, 0x1007, 4, 4, 0, 0, 0) + b"\0" * 44
    dds = b"DDS " + header + struct.pack("<8I", 32, 0, 0, 0, 0, 0, 0, 0) + struct.pack("<5I", 0x1000, 0, 0, 0, 0)
    with pytest.raises(ImageRejected) as info:
        normalize_image(dds + b"\0" * 64)
    assert info.value.reason == "not_image" and "NotImplementedError" in info.value.detail


def test_pixel_bomb_limit_is_an_error_checked_before_decoding():
    assert _reason(png_bytes(4, (20, 20)), ImagePolicy(max_pixels=399)) == "too_large"
    assert _reason(png_bytes(4, (20, 20)), ImagePolicy(max_bytes=10)) == "too_large"


def test_long_side_is_resized_down_never_up():
    big = normalize_image(png_bytes(5, (600, 300), mode="RGB"), ImagePolicy(max_side=100))
    assert (big.width, big.height) == (100, 50)
    small = normalize_image(png_bytes(5, (30, 20)), ImagePolicy(max_side=100))
    assert (small.width, small.height) == (30, 20)


@pytest.mark.parametrize(("mode", "channels"), [("RGBA", 3), ("LA", 1), ("CMYK", 3), ("1", 1), ("P", 3)])
def test_modes_become_rgb_or_l(mode, channels):
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "LA" else "PNG")
    data = _encode(Image.new(mode, (6, 4)), fmt)
    out = normalize_image(data)
    assert out.channels == channels
    assert Image.open(io.BytesIO(out.data)).mode == ("L" if channels == 1 else "RGB")


def test_transparent_pixels_are_composited_on_white():
    out = normalize_image(_encode(Image.new("RGBA", (4, 4), (255, 0, 0, 0)), "PNG"))
    assert Image.open(io.BytesIO(out.data)).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_grey_is_scaled_not_clipped():
    im = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    out = normalize_image(_encode(im, "PNG"))
    assert out.channels == 1
    assert Image.open(io.BytesIO(out.data)).getpixel((0, 0)) == 255


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (40, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    out = normalize_image(_encode(im, "JPEG", exif=exif.tobytes()))
    assert (out.width, out.height) == (20, 40)


def test_jpeg_encoding_policy():
    out = normalize_image(png_bytes(6, (20, 20), mode="RGB"), ImagePolicy(encode="JPEG", quality=80))
    assert Image.open(io.BytesIO(out.data)).format == "JPEG"


def test_policy_roundtrip_and_validation():
    pol = ImagePolicy(max_side=64, encode="JPEG", quality=70)
    assert ImagePolicy.from_dict(pol.to_dict()) == pol
    with pytest.raises(UserError, match="encoding 'GIF' is not supported"):
        ImagePolicy(encode="GIF")
    with pytest.raises(UserError, match="max_side=0"):
        ImagePolicy(max_side=0)


def test_encode_array_shapes():
    assert encode_array(np.zeros((5, 7), np.uint8)).channels == 1
    assert encode_array(np.zeros((5, 7, 3), np.uint8)).channels == 3
    with pytest.raises(ValueError, match="uint8"):
        encode_array(np.zeros((5, 7), np.float32))
    with pytest.raises(ValueError, match="shape"):
        encode_array(np.zeros((5, 7, 4), np.uint8))
