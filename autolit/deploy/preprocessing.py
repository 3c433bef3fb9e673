"""The export's preprocessing: exactly what training fed the model, written to preprocessing.json.

Decoding and resizing call :func:`autolit.datamodules.preprocess.decode_image`, the function the
training loaders and the decoded cache use, so predict cannot drift from training. Normalisation
is the same arithmetic as ``normalize_batch`` (``(x / 255 - mean) / std``) done in numpy so
predict needs no torch when it runs on ONNX Runtime.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from autolit.datamodules.preprocess import RESIZE_RULE, decode_image
from autolit.deploy.bundle import read_json, write_json
from autolit.errors import UserError, one_line
from autolit.store.policy import ALLOWED_FORMATS_DEFAULT, ImagePolicy, ImageRejected, normalize_image
from autolit.system import MAX_IMAGE_SIZE

FILE = "preprocessing.json"
# Predict decodes untrusted files and URLs: only the formats the store's import accepts by default
# (GIF is not among them), so no other Pillow plugin decodes an input's pixels.
ALLOWED_FORMATS = ALLOWED_FORMATS_DEFAULT


class BadImage(Exception):
    """An input that cannot be decoded into an image; the message is ``code: detail``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")


@dataclass(frozen=True)
class Preprocessing:
    """How raw image bytes become the model's float32 ``(B, C, S, S)`` input."""

    image_size: int
    channels: int
    mean: list[float]
    std: list[float]
    resize: str = RESIZE_RULE
    task: str = "multiclass"
    store_fingerprint: str | None = None
    input: str = "float32 (B, C, H, W) = (uint8 / 255 - mean) / std"
    # The store's image policy (autolit.store.policy.ImagePolicy.to_dict()): a raw input goes through
    # the import's normalize_image first (long side bounded, re-encoded), as every training image did.
    # None in exports made before it was recorded: then the input is decoded directly.
    store_policy: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> "Preprocessing":
        """Build from a checkpoint's ``hyper_parameters`` (``preprocessing`` + ``input_shape``)."""
        pre = dict(hparams.get("preprocessing") or {})
        shape = hparams.get("input_shape") or []
        if not pre and len(shape) != 3:
            raise UserError("checkpoint hyper_parameters have neither preprocessing nor input_shape; "
                            "fix: train with autolit.fit (it links data.preprocessing into the model)")
        channels = int(pre.get("channels") or shape[0])
        size = int(pre.get("image_size") or shape[-1])
        mean = [float(v) for v in pre.get("mean") or [0.0] * channels]
        std = [float(v) for v in pre.get("std") or [1.0] * channels]
        if len(mean) != channels or len(std) != channels:
            raise UserError(f"checkpoint preprocessing: mean/std have {len(mean)}/{len(std)} values for "
                            f"{channels} channels; fix: retrain with matching data.mean/data.std")
        task = str(hparams.get("task") or pre.get("task") or "multiclass")
        known = {"image_size", "channels", "mean", "std", "resize", "task", "store_fingerprint", "store_policy"}
        extra = {k: v for k, v in pre.items() if k not in known}
        built = cls(size, channels, mean, std, str(pre.get("resize") or RESIZE_RULE), task,
                    pre.get("store_fingerprint"), extra=extra, store_policy=pre.get("store_policy"))
        problem = built._problem()
        if problem:
            raise UserError(f"checkpoint preprocessing: {problem}; fix: export a checkpoint written by "
                            "autolit.fit (this one was edited or damaged)")
        return built

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the content of preprocessing.json)."""
        return asdict(self)

    def save(self, out_dir: Path) -> Path:
        """Write ``out_dir/preprocessing.json``."""
        return write_json(out_dir / FILE, self.to_dict())

    @classmethod
    def load(cls, export_dir: Path) -> "Preprocessing":
        """Read ``export_dir/preprocessing.json`` (UserError naming the file when it is broken)."""
        path = export_dir / FILE
        fields = read_json(path, "preprocessing file")
        try:
            pre = cls(**fields)
        except TypeError as exc:  # not a dict, or keys this class does not have
            raise UserError(f"{path} is not a valid preprocessing file ({one_line(exc)}); fix: re-export") from None
        problem = pre._problem()
        if problem:
            raise UserError(f"{path}: {problem}; fix: re-export (the file was edited or damaged)")
        return pre

    def _problem(self) -> str | None:
        """What is out of range in a loaded file (it decides how much memory each image takes)."""
        size, channels = self.image_size, self.channels
        if not (isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= MAX_IMAGE_SIZE):
            return f"image_size {size!r} is not an integer in 1..{MAX_IMAGE_SIZE}"
        if channels not in (1, 3) or isinstance(channels, bool):
            return f"channels {channels!r} is not 1 or 3"
        for name, values in (("mean", self.mean), ("std", self.std)):
            ok = isinstance(values, list) and len(values) == channels and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
            if not ok:
                return f"{name} {values!r} is not {channels} finite number(s)"
        if any(v <= 0 for v in self.std):
            return f"std {self.std!r} has a value <= 0"
        if self.store_policy is not None:
            try:
                self.policy()
            except (UserError, KeyError, TypeError, ValueError) as exc:
                return f"store_policy {one_line(self.store_policy, 120)} is not an image policy ({one_line(exc, 120)})"
        return None

    def policy(self) -> ImagePolicy | None:
        """The store's import rule a raw input goes through before decoding (None: decode directly)."""
        return None if self.store_policy is None else ImagePolicy.from_dict(self.store_policy)

    def check_resize_rule(self) -> None:
        """Refuse an export made with a different resize rule than this code implements."""
        if self.resize != RESIZE_RULE:
            raise UserError(f"preprocessing.json resize rule {self.resize!r} differs from this autolit's "
                            f"{RESIZE_RULE!r}; fix: re-export with this version of autolit")

    def decode(self, data: bytes, *, stored: bool = False) -> np.ndarray:
        """Image bytes → ``(C, S, S)`` uint8 by the training rule; raises :class:`BadImage`.

        A raw input (a file, a URL) first goes through the store's import (:func:`normalize_image`
        with :attr:`store_policy`), so it reaches :func:`decode_image` as the bytes a store record
        would hold; ``stored``: the bytes are a store record already (the export's own checks).
        """
        if not data:
            raise BadImage("empty", "no bytes")
        policy = None if stored else self.policy()
        with warnings.catch_warnings():
            # A decompression bomb is an unreadable input here, not a warning to scroll past.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                _check_format(data, ALLOWED_FORMATS if policy is None else policy.formats)
                if policy is not None:
                    data = normalize_image(data, policy).data  # the import's size caps and conversion
                return decode_image(data, self.image_size, self.channels)
            except ImageRejected as exc:
                raise BadImage(exc.reason, exc.detail) from None
            except BadImage:
                raise
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise BadImage("too_large", str(exc)) from None
            except Image.UnidentifiedImageError:
                raise BadImage("not_image", "not an image format Pillow can decode") from None
            except Exception as exc:  # noqa: BLE001 - plugins fail their own way on a corrupt file
                # (NotImplementedError, EOFError, struct.error...): one bad input must not stop the others
                raise BadImage("not_image", one_line(exc, 160)) from None

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        """uint8 ``(B, C, S, S)`` → float32 ``(x / 255 - mean) / std``."""
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
        return ((batch.astype(np.float32) / np.float32(255.0)) - mean) / std


def _check_format(data: bytes, allowed: frozenset[str]) -> None:
    """Refuse a format outside ``allowed`` (the store's import formats) from its header, before any
    pixel is decoded."""
    with Image.open(io.BytesIO(data)) as img:
        fmt = img.format or "unknown"
    if fmt not in allowed:
        raise BadImage("format_not_allowed", f"{fmt} is not one of {', '.join(sorted(allowed))}")
