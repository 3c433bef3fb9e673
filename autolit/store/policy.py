"""Image policy: what the store accepts and how every image is normalised before storage.

Every image goes through :func:`normalize_image` (bytes from a file or URL) or
:func:`encode_array` (pixels from a bundled data set), so a store holds RGB or L images only, with
a bounded long side, encoded as JPEG (photos that arrived lossy) or PNG (everything else). The
output is deterministic for a given Pillow/libjpeg/zlib build, which is what makes the content
hash (and the store fingerprint) reproducible.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from autolit.errors import UserError, one_line

ALLOWED_FORMATS_DEFAULT: frozenset[str] = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF"})
# MPO: what Pillow calls the multi-picture JPEGs many phone cameras write (the first frame is used).
# GIF is NOT allowed by default: on the web GIFs are mostly placeholders ("image not found"),
# icons and animations, not photos. Allow it with ImagePolicy(formats=... | {"GIF"}).

REJECT_REASONS: tuple[str, ...] = (
    "empty", "not_image", "format_not_allowed", "truncated", "too_large", "bad_mode",
)
ENCODINGS: tuple[str, ...] = ("auto", "PNG", "JPEG")
# "auto" keeps each image in the kind of encoding it came in: photos that arrive lossy (JPEG, WEBP)
# are stored as JPEG (a 256 px photo decodes ~5x faster than its PNG and is ~10x smaller), every
# lossless source (PNG, BMP, TIFF, pixel arrays like digits and MNIST) stays lossless PNG.
LOSSY_SOURCES = frozenset({"JPEG", "WEBP", "MPO"})
# The largest source file the store reads (ImagePolicy.max_bytes default); predict uses the same cap.
MAX_SOURCE_BYTES = 50_000_000
# zlib level 1: ~4x faster than the default 6 on 256px photos for ~7% more bytes; the level is
# part of the stored bytes (hence of hashes), so it is fixed for schema version 1.
PNG_COMPRESS_LEVEL = 1

_GREY_MODES = frozenset({"L", "1", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_GREY_ALPHA_MODES = frozenset({"LA", "La"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "PA"})
_COLOR_MODES = frozenset({"RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
_ORIENTATION = 0x0112  # the EXIF tag


class ImageRejected(Exception):
    """An image the policy refuses; ``reason`` is one of :data:`REJECT_REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImagePolicy:
    """How images are validated and normalised (one policy per store)."""

    max_side: int = 256
    encode: str = "auto"
    quality: int = 90
    formats: frozenset[str] = field(default=ALLOWED_FORMATS_DEFAULT)
    max_pixels: int = 64_000_000
    max_bytes: int = MAX_SOURCE_BYTES

    def __post_init__(self) -> None:
        if self.encode not in ENCODINGS:
            raise UserError(f"image encoding {self.encode!r} is not supported; use one of {list(ENCODINGS)}")
        if int(self.max_side) < 1:
            raise UserError(f"max_side={self.max_side!r} must be a positive number of pixels, e.g. 256")
        if not 1 <= int(self.quality) <= 100:
            raise UserError(f"JPEG quality={self.quality!r} must be in 1..100, e.g. 90")
        object.__setattr__(self, "formats", frozenset(f.upper() for f in self.formats))

    def to_dict(self) -> dict:
        """JSON form stored in the store's meta."""
        return {
            "max_side": int(self.max_side), "encode": self.encode, "quality": int(self.quality),
            "formats": sorted(self.formats), "max_pixels": int(self.max_pixels),
            "max_bytes": int(self.max_bytes),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ImagePolicy:
        """Inverse of :meth:`to_dict`."""
        return cls(
            max_side=int(d["max_side"]), encode=str(d["encode"]), quality=int(d["quality"]),
            formats=frozenset(d["formats"]), max_pixels=int(d["max_pixels"]),
            max_bytes=int(d["max_bytes"]),
        )


@dataclass(frozen=True)
class NormalizedImage:
    """An image ready to store: encoded bytes plus what the record header needs."""

    data: bytes
    width: int
    height: int
    channels: int
    sha256: str
    source_format: str


def normalize_image(data: bytes, policy: ImagePolicy = ImagePolicy()) -> NormalizedImage:
    """Validate, decode fully and re-encode an image according to ``policy``.

    Raises:
        ImageRejected: with reason empty, not_image, format_not_allowed, truncated, too_large
            or bad_mode.
    """
    if not data:
        raise ImageRejected("empty", "0 bytes")
    if len(data) > policy.max_bytes:
        raise ImageRejected("too_large", f"{len(data)} bytes > max_bytes {policy.max_bytes}")
    im, fmt = _decode(data, policy)
    return _finish(standard_mode(im), policy, fmt)


def standard_mode(im: Image.Image) -> Image.Image:
    """EXIF orientation applied, any mode converted to L or RGB (16-bit scaled, alpha on white).

    The one conversion of decoded images: the store's import uses it, and so do the training
    loaders and predict (``autolit.datamodules.preprocess``), so a file means the same pixels on
    every path. Raises :class:`ImageRejected` (``bad_mode``) for modes it cannot convert.
    """
    return _to_rgb_or_l(_orient(im))


def encode_array(pixels: np.ndarray, policy: ImagePolicy = ImagePolicy()) -> NormalizedImage:
    """Encode a uint8 ``HxW`` (L) or ``HxWx3`` (RGB) array with the policy's encoding."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise ValueError(f"encode_array needs uint8 pixels, got {arr.dtype}")
    if arr.ndim == 2:
        im = Image.fromarray(np.ascontiguousarray(arr), mode="L")
    elif arr.ndim == 3 and arr.shape[2] == 3:
        im = Image.fromarray(np.ascontiguousarray(arr), mode="RGB")
    else:
        raise ValueError(f"encode_array needs HxW or HxWx3 pixels, got shape {arr.shape}")
    return _finish(im, policy, "array")


def _decode(data: bytes, policy: ImagePolicy) -> tuple[Image.Image, str]:
    """Identify, check format and size BEFORE decoding, then decode every pixel (load())."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make it an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            fmt = im.format or "unknown"
            if fmt not in policy.formats:
                raise ImageRejected("format_not_allowed", f"{fmt} not in {sorted(policy.formats)}")
            width, height = im.size
            if width * height > policy.max_pixels:
                raise ImageRejected(
                    "too_large", f"{width}x{height} pixels > max_pixels {policy.max_pixels}"
                )
            _draft(im, fmt, policy.max_side)
            im.load()
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected("not_image", one_line(exc)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too_large", one_line(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        # struct.error: some Pillow plugins leak it on corrupt headers.
        raise ImageRejected("truncated", one_line(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a plugin failing its own way while identifying a
        # hostile file (DDS: NotImplementedError) must reject that file, not stop the import
        raise ImageRejected("not_image", one_line(exc)) from None
    return im, fmt


def _draft(im: Image.Image, fmt: str, max_side: int) -> None:
    """Let the JPEG decoder scale by 1/2..1/8 while decoding (every byte is still decoded, so a
    truncated file is still caught). We ask for at least twice the final size so the LANCZOS
    downscale that follows still has detail to antialias; this makes big photos ~3-5x faster."""
    width, height = im.size
    if fmt != "JPEG" or max(width, height) <= 2 * max_side:
        return
    scale = 2 * max_side / max(width, height)
    im.draft(im.mode, (math.ceil(width * scale), math.ceil(height * scale)))


def _orient(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a corrupt EXIF block leaves the image as decoded."""
    try:
        if im.getexif().get(_ORIENTATION, 1) == 1:
            return im  # most images need no turn: skip exif_transpose's copy
        return ImageOps.exif_transpose(im) or im
    except Exception:  # noqa: BLE001 - EXIF parsing errors vary by Pillow version
        return im


def _to_rgb_or_l(im: Image.Image) -> Image.Image:
    """Convert any decoded mode to L (grey) or RGB; alpha is composited on white."""
    mode = im.mode
    if mode == "L":
        return im
    if mode in _GREY_MODES:
        return _grey_to_l(im)
    if mode in _GREY_ALPHA_MODES:
        return _on_white(im.convert("LA"), "L")
    if mode == "P":
        has_alpha = "transparency" in im.info
        return _on_white(im.convert("RGBA"), "RGB") if has_alpha else im.convert("RGB")
    if mode in _ALPHA_MODES:
        return _on_white(im.convert("RGBA"), "RGB")
    if mode in _COLOR_MODES:
        return im if mode == "RGB" else im.convert("RGB")
    raise ImageRejected("bad_mode", f"mode {mode}")


def _grey_to_l(im: Image.Image) -> Image.Image:
    """Grey modes with more than 8 bits are scaled (not clipped) into 0..255."""
    if im.mode == "1":
        return im.convert("L")
    arr = np.asarray(im, dtype=np.float64)
    top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8), mode="L")


def _on_white(im: Image.Image, mode: str) -> Image.Image:
    """Composite an image with alpha onto a white background."""
    background = Image.new(im.mode, im.size, (255,) * len(im.mode))
    return Image.alpha_composite(background, im).convert(mode) if im.mode == "RGBA" else (
        Image.composite(im, background, im.getchannel("A")).convert(mode)
    )


def _finish(im: Image.Image, policy: ImagePolicy, fmt: str) -> NormalizedImage:
    """Resize (down only) and encode; the sha256 is taken over the stored bytes."""
    width, height = im.size
    scale = policy.max_side / max(width, height)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buf = io.BytesIO()
    encode = policy.encode
    if encode == "auto":
        encode = "JPEG" if fmt in LOSSY_SOURCES else "PNG"
    if encode == "PNG":
        im.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        im.save(buf, format="JPEG", quality=int(policy.quality))
    data = buf.getvalue()
    return NormalizedImage(
        data=data, width=im.size[0], height=im.size[1], channels=1 if im.mode == "L" else 3,
        sha256=hashlib.sha256(data).hexdigest(), source_format=fmt,
    )

