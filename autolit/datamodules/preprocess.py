"""The one image preprocessing rule, shared by training, the decoded cache, export and predict.

Rule (``RESIZE_RULE``): decode with Pillow, then the store's conversion
(:func:`autolit.store.policy.standard_mode`: EXIF orientation; 16-bit grey scaled, palette, alpha
(on white), CMYK and the other modes to ``L`` or ``RGB``), then ``L`` (1 channel) or ``RGB`` (3
channels), take the centred square whose side is the shorter side and resize it to
``size x size`` (bilinear, antialiased). Images already ``size x size`` pass through untouched.
Normalisation (``(x / 255 - mean) / std``) happens later, on whole batches, on the training device.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from autolit.store.policy import ImageRejected, standard_mode

RESIZE_RULE = ("exif_transpose, the store's conversion to L|RGB (16-bit scaled, alpha on white), then L|RGB, "
               "centred square crop of the shorter side resized to size x size (bilinear, antialiased)")
# Part of the decoded cache's key: a cache built by an earlier rule is never served.
# r3: grey from colour JPEGs converted by Pillow (not libjpeg's draft), modes by the store's policy.
RULE_TAG = "r3"
_MODES = {1: "L", 3: "RGB"}


def decode_image(data: bytes, size: int, channels: int, *, max_side: int | None = None) -> np.ndarray:
    """Decode encoded image bytes to a ``(channels, size, size)`` uint8 array by ``RESIZE_RULE``.

    ``max_side`` refuses (ValueError) an image whose header claims a longer side, before decoding.
    """
    with Image.open(io.BytesIO(data)) as img:
        if max_side is not None and max(img.size) > max_side:
            raise ValueError(f"image is {img.size[0]}x{img.size[1]}, more than its store's {max_side} px")
        # JPEG can decode at 1/2, 1/4, 1/8 scale for free; draft keeps both sides >= size, so the
        # result is identical in kind (just less work) to decoding in full and resizing. The mode is
        # left alone: converting is standard_mode's job, on every path.
        img.draft(img.mode, (size, size))
        return to_array(img, size, channels)


def to_array(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """Apply ``RESIZE_RULE`` to an open Pillow image; returns ``(C, size, size)`` uint8."""
    try:
        img = standard_mode(img)
    except ImageRejected as rej:
        raise ValueError(f"{rej.reason}: {rej.detail}") from None
    if img.mode != _MODES[channels]:
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
