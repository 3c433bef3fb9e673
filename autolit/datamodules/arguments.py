"""Checks of StoreDataModule's own arguments: each mistake names the ``data.*`` key, the value, what
it must be and the fix (:func:`autolit.errors.invalid_value`).

The data module runs them when it is built; the fit CLI runs them on a parsed config too (and the
search on the config its trials get), before the store is read or imported.
"""

from __future__ import annotations

import math
from typing import Any

from autolit.datamodules.limits import check_batch_memory
from autolit.errors import UserError, invalid_value

CACHE_MODES = ("auto", "none", "decoded", "device")


def check_data_args(*, image_size: Any, channels: Any, batch_size: Any, num_workers: Any, cache: Any,
                    device_limit_mb: Any, mean: Any, std: Any) -> None:
    """The data module's own values, each refused by key with the fix; the fit CLI also runs this on a
    parsed config, before the store is read or imported."""
    owner = "StoreDataModule"
    if image_size is not None and (not _is_int(image_size) or image_size < 1):
        raise invalid_value("data.image_size", image_size, owner, "an integer >= 1, or null (the store's size)", "224")
    if channels not in (None, 1, 3) or isinstance(channels, bool):
        raise invalid_value("data.channels", channels, owner, "1 (grey) or 3 (RGB), or null (the store's)", "3")
    if not _is_int(batch_size) or batch_size < 1:
        raise invalid_value("data.batch_size", batch_size, owner, "an integer >= 1", "64")
    if not _is_int(num_workers) or num_workers < 0:
        raise invalid_value("data.num_workers", num_workers, owner, "an integer >= 0 (0: load in the training "
                            "process)", "0")
    if cache not in CACHE_MODES:
        raise invalid_value("data.cache", cache, owner, f"one of {', '.join(CACHE_MODES)}", "auto", CACHE_MODES)
    if not _is_int(device_limit_mb) or device_limit_mb < 0:  # a negative limit silently meant "never device"
        raise invalid_value("data.device_limit_mb", device_limit_mb, owner, "an integer >= 0 (MiB; 0: never the "
                            "device cache)", "1024")
    for key, values in (("mean", mean), ("std", std)):
        check_stats(key, values, channels)
    check_batch_memory(image_size, channels or 1, batch_size)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_stats(key: str, values: list[float] | None, channels: int | None) -> None:
    """data.mean/data.std: one finite value per channel (export refuses any other count), std > 0."""
    if values is None:
        return
    numbers = isinstance(values, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    if not numbers or not values or (key == "std" and min(values) <= 0):
        need = "positive numbers" if key == "std" else "finite numbers"
        raise UserError(f"data.{key} must be a list of {need}, one per channel, got {values!r}; fix: e.g. "
                        f"data.{key}: {[0.25 if key == 'std' else 0.5] * (channels or 3)}, or leave it out "
                        f"(computed from the train split)")
    if channels is not None and len(values) != channels:
        raise UserError(f"data.{key} has {len(values)} value{'s' * (len(values) != 1)} but the data has "
                        f"{channels} channel{'s' * (channels != 1)} (data.channels or the store's); fix: give "
                        f"{channels} value{'s' * (channels != 1)}, or leave data.{key} out (computed from the "
                        f"train split)")
