"""Feature matrices of a store's splits for models that are not trained by Lightning: raw pixels
(the decoded cache at a size, flattened) or the pooled features of a frozen pretrained Backbone,
its input prepared as its weights expect. Read by :mod:`autolit.training.baselines`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from autolit.errors import UserError

SPLITS = ("train", "val", "test")
PIXELS = "pixels"
BATCH = 64


@dataclass
class Features:
    """One matrix per split (N, D) with its targets, and how it was made."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    what: str
    seconds: float
    regression: bool


def open_store(store: str) -> Any:
    """The store's reader, after its own checks (exists, is a folder, is a store); it needs train images."""
    from autolit.store import StoreReader

    reader = StoreReader(store)
    if not reader.keys("train"):
        reader.close()
        raise UserError(f"store {store} has no train images; fix: import some")
    return reader


def load_features(reader: Any, features: str, weights: str, image_size: int | None,
                  splits: tuple[str, ...] = SPLITS) -> Features:
    """Raw pixels or frozen backbone features for ``splits`` of an open store (the decoded cache's
    order; a choice made on train and val never computes the test split's). A mistake in ``features``/``weights`` is the Backbone's own error (``model.layers[0]
    .Backbone.name: unknown architecture …``): the caller says which of its inputs made that spec."""
    from autolit.datamodules import cache as decoded_cache

    start = time.perf_counter()
    if features == PIXELS:
        size, channels = image_size or 32, _store_channels(reader)
        data = decoded_cache.get_or_build(reader, size, channels)
        x = {s: _flat(data.split(s)[0]) for s in splits}                     # (N, C*S*S)
        what = f"pixels {channels}x{size}x{size}"
    else:
        x, size, data = _backbone_features(reader, features, weights, image_size, splits)
        what = f"{features} features ({x['train'].shape[1]}) at {size} px"
    y = {s: np.asarray(data.split(s)[1]) for s in splits}
    return Features(x, y, what, time.perf_counter() - start, reader.meta.task == "regression")


def _flat(images: Any) -> np.ndarray:
    """uint8 (N, C, S, S) -> float32 (N, C*S*S) in [0, 1]; the width is spelled out so N may be 0."""
    a = np.asarray(images)
    return a.reshape(len(a), int(np.prod(a.shape[1:]))).astype(np.float32) / 255


def _store_channels(reader: Any) -> int:
    return int(reader.record(reader.keys("train")[0])["channels"])


def _backbone_features(reader: Any, name: str, weights: str, image_size: int | None,
                       splits: tuple[str, ...]) -> tuple[dict[str, np.ndarray], int, Any]:
    """Pooled features (N, F) of a frozen Backbone, input prepared as its weights expect."""
    import torch

    from autolit.datamodules import cache as decoded_cache
    from autolit.datamodules.preprocess import normalize_batch
    from autolit.modules.backbone import Backbone, backbone_preprocessing

    pre = backbone_preprocessing([{"Backbone": {"name": name, "weights": weights}}]) or {}
    backbone = Backbone(name, weights=weights, trainable="none", where="model.layers[0].Backbone").eval()
    size = image_size or pre.get("image_size") or 224
    data = decoded_cache.get_or_build(reader, size, 3)
    mean, std = (torch.tensor(pre.get(k) or [0.5] * 3).view(1, -1, 1, 1) for k in ("mean", "std"))
    backbone = backbone.to(memory_format=torch.channels_last)  # NHWC: ~1.6x faster on the CPU
    out = {}
    with torch.inference_mode():
        for split in splits:
            images = data.split(split)[0]
            parts = [backbone(normalize_batch(torch.from_numpy(np.array(images[i:i + BATCH])), mean, std)
                              .contiguous(memory_format=torch.channels_last))
                     for i in range(0, len(images), BATCH)]               # (B, 3, S, S) -> (B, F)
            out[split] = torch.cat(parts).numpy() if parts else np.zeros((0, 1), np.float32)
    return out, size, data


