"""Per-channel mean/std of the train split, computed once and cached in the store (aux record)."""

from __future__ import annotations

import numpy as np

from autolit.datamodules.datasets import decode_record
from autolit.datamodules.preprocess import RULE_TAG
from autolit.errors import UserError
from autolit.store import StoreReader, put_aux

SAMPLE = 5000  # images; keys are sorted by content hash, so the first N are an unbiased sample


def channel_stats(reader: StoreReader, size: int, channels: int) -> tuple[list[float], list[float]]:
    """Mean and std per channel in [0, 1] over (up to ``SAMPLE``) train images at ``size``."""
    name = f"norm-{reader.meta.fingerprint[:16]}-{size}px-{channels}c-{RULE_TAG}"
    cached = reader.get_aux(name)
    if cached:
        return cached["mean"], cached["std"]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    pixels = 0
    for key in reader.keys("train")[:SAMPLE]:
        image, _ = decode_record(reader, key, size, channels)
        arr = image.reshape(channels, -1).astype(np.float64) / 255.0  # (C, S*S)
        total += arr.sum(axis=1)
        total_sq += (arr ** 2).sum(axis=1)
        pixels += arr.shape[1]
    if pixels == 0:
        return [0.5] * channels, [0.5] * channels
    mean = total / pixels
    std = np.sqrt(np.maximum(total_sq / pixels - mean**2, 1e-12))
    stats = {"mean": [round(float(m), 6) for m in mean], "std": [round(float(s), 6) for s in std]}
    try:
        put_aux(reader.path, name, stats)
    except UserError:
        pass  # a read-only store: the statistics are recomputed next time, nothing else changes
    return stats["mean"], stats["std"]
