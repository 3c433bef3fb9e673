"""The one image preprocessing rule, shared by training, the decoded cache, export and predict.

Rule (``RESIZE_RULE``): decode with Pillow, apply EXIF orientation, convert to ``L`` (1 channel) or
``RGB`` (3 channels), take the centred square whose side is the shorter side and resize it to
``size x size`` (bilinear, antialiased). Images already ``size x size`` pass through untouched.
Normalisation (``(x / 255 - mean) / std``) happens later, on whole batches, on the training device.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

RESIZE_RULE = ("exif_transpose, convert L|RGB, centred square crop of the shorter side resized to size x size "
               "(bilinear, antialiased)")
# Part of the decoded cache's key: a cache built by an earlier rule is never served.
RULE_TAG = "r2"
_MODES = {1: "L", 3: "RGB"}
_ORIENTATION = 0x0112


def decode_image(data: bytes, size: int, channels: int) -> np.ndarray:
    """Decode encoded image bytes to a ``(channels, size, size)`` uint8 array by ``RESIZE_RULE``."""
    with Image.open(io.BytesIO(data)) as img:
        # JPEG can decode at 1/2, 1/4, 1/8 scale for free; draft keeps both sides >= size, so the
        # result is identical in kind (just less work) to decoding in full and resizing.
        img.draft(_MODES[channels], (size, size))
        return to_array(img, size, channels)


def to_array(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """Apply ``RESIZE_RULE`` to an open Pillow image; returns ``(C, size, size)`` uint8."""
    if img.getexif().get(_ORIENTATION, 1) != 1:  # most images need no turn: skip the copy
        img = ImageOps.exif_transpose(img)
    if img.mode != _MODES[channels]:
        if img.mode in ("RGBA", "LA", "P") and channels == 3:
            img = img.convert("RGBA")
            background = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, img)
        img = img.convert(_MODES[channels])
    w, h = img.size
    if (w, h) != (size, size):
        # Resizing only the centred square (Pillow's box) is the crop-after-resize of the rule
        # without resampling pixels that would be cropped away, and centres to sub-pixel precision.
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        img = img.resize((size, size), Image.BILINEAR, box=box)
    arr = np.array(img, dtype=np.uint8)  # a writable copy: torch.from_numpy warns on Pillow's read-only buffer
    if arr.ndim == 2:  # (H, W) -> (1, H, W)
        return arr[None]
    return np.ascontiguousarray(arr.transpose(2, 0, 1))  # (H, W, C) -> (C, H, W)


def normalize_batch(x, mean, std):
    """uint8 ``(B, C, H, W)`` tensor -> float32 normalised; mean/std are ``(1, C, 1, 1)`` tensors."""
    return (x.float().div_(255.0) - mean) / std
