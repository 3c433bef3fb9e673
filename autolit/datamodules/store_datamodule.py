"""``StoreDataModule``: a LightningDataModule over an autolit image store.

Three ways to serve a split, picked by ``cache``:

* ``none``: decode each record from LMDB in the loader workers (any store size);
* ``decoded``: decode + resize once into a memory-mapped uint8 cache keyed by the store's fingerprint
  and image size, then every run slices batches from it in the training process (see
  :mod:`autolit.datamodules.cache`); loader workers are used only for a split with augmentations;
* ``device``: the decoded cache copied onto the training device, batches indexed there;
* ``auto`` (default): ``device`` for data sets up to ``device_limit_mb`` without augmentation,
  else ``decoded``.

Loaders yield uint8 ``(B, C, S, S)`` batches; normalisation runs on the device in
``on_after_batch_transfer``, so workers ship 4x fewer bytes and the GPU does the arithmetic.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from autolit.datamodules import cache as decoded_cache
from autolit.datamodules.arguments import check_data_args, check_stats
from autolit.datamodules.augment import build_augment
from autolit.datamodules.datasets import (ArrayDataset, BatchLoader, StoreDataset, TrainBatchSampler, n_batches,
                                         stack_batch, worker_init)
from autolit.datamodules.limits import cache_bytes, check_batch_memory, fitting_cache_mode
from autolit.datamodules.preprocess import RESIZE_RULE, normalize_batch
from autolit.datamodules.sources import ensure_store
from autolit.datamodules.stats import channel_stats
from autolit.errors import UserError
from autolit.store import StoreReader

class StoreDataModule(L.LightningDataModule):
    """Train/val/test loaders over a store's deterministic splits.

    Args:
        store: path of the store (created from ``source`` on first use when missing).
        source: what to import when the store is missing (or lacks, for a scrape): ``digits``,
            ``digits-parity``, ``digits-rotation``, ``idx:DIR``, ``folder:DIR``, ``csv:FILE``,
            ``{folder: DIR, split: test}`` (pinned to one split), ``{scrape: {queries: [...],
            per_query: N}}``, or a list of them imported in turn (see ``datamodules/sources.py``).
        image_size: square side in pixels; ``None`` keeps the store's native size.
        channels: 1 (grey) or 3 (RGB); ``None`` keeps the store's.
        batch_size: samples per batch.
        num_workers: DataLoader worker processes.
        mean: per-channel mean in [0, 1]; ``None`` computes it once from the train split.
        std: per-channel std; ``None`` computes it with the mean.
        augment: torchvision v2 augmentations for the train split (list of one-key maps).
        cache: ``auto`` | ``none`` | ``decoded`` | ``device``.
        device_limit_mb: the largest decoded data set ``auto`` puts on the device.
        pin_memory: pin host batches (CUDA).
        persistent_workers: keep loader workers between epochs.
    """

    def __init__(self, store: str, source: str | dict | list[str | dict] | None = None,
                 image_size: int | None = None,
                 channels: int | None = None, batch_size: int = 64, num_workers: int = 0,
                 mean: list[float] | None = None, std: list[float] | None = None,
                 augment: list[dict] | None = None, cache: str = "auto", device_limit_mb: int = 1024,
                 pin_memory: bool = False, persistent_workers: bool = False) -> None:
        super().__init__()
        check_data_args(image_size=image_size, channels=channels, batch_size=batch_size, num_workers=num_workers,
                        cache=cache, device_limit_mb=device_limit_mb, mean=mean, std=std)
        self.save_hyperparameters()
        self.store_path, self.source = Path(store), source
        self.batch_size, self.num_workers = batch_size, num_workers
        self.transform = build_augment(augment)
        self.cache_mode = cache
        self._loaders: dict[str, object] = {}
        self._norm: tuple[torch.Tensor, torch.Tensor] | None = None
        self._cache: decoded_cache.DecodedCache | None = None

    # ---- what the model needs to resolve its spec (linked by the fit CLI) ----
    @cached_property
    def reader(self) -> StoreReader:
        ensure_store(self.source, self.store_path)
        if not self.store_path.exists():
            raise UserError(f"data.store: {self.store_path} does not exist; import data first "
                            f"(python -m autolit.store import ... --store {self.store_path}) or set data.source")
        return StoreReader(self.store_path)

    @property
    def task(self) -> str:
        return self.reader.meta.task

    @property
    def label_names(self) -> list[str]:
        return list(self.reader.meta.labels)

    @property
    def n_labels(self) -> int:
        return 1 if self.task == "regression" else len(self.label_names)

    @cached_property
    def _native(self) -> dict:
        keys = self.reader.keys("train") or self.reader.keys()
        if not keys:
            raise UserError(f"data.store: {self.store_path} holds no images; import some first")
        return self.reader.record(keys[0])

    @property
    def image_size(self) -> int:
        return self.hparams.image_size or max(self._native["width"], self._native["height"])

    @property
    def channels(self) -> int:
        return self.hparams.channels or self._native["channels"]

    @property
    def input_shape(self) -> list[int]:
        return [self.channels, self.image_size, self.image_size]

    @property
    def fingerprint(self) -> str:
        return self.reader.meta.fingerprint

    @cached_property
    def mean_std(self) -> tuple[list[float], list[float]]:
        for key in ("mean", "std"):  # data.channels not given: the store's count is known only now
            check_stats(key, self.hparams[key], self.channels)
        if self.hparams.mean is not None and self.hparams.std is not None:
            return list(self.hparams.mean), list(self.hparams.std)
        mean, std = channel_stats(self.reader, self.image_size, self.channels)
        return list(self.hparams.mean or mean), list(self.hparams.std or std)

    @property
    def preprocessing(self) -> dict:
        """Everything export/predict need to feed the model exactly what training fed it."""
        mean, std = self.mean_std
        return {"image_size": self.image_size, "channels": self.channels, "mean": mean, "std": std,
                "resize": RESIZE_RULE, "store_fingerprint": self.fingerprint, "task": self.task,
                # the store's import rule (long side, encoding): predict applies it to a raw file first
                "store_policy": self.reader.meta.policy.to_dict()}

    def targets(self, split: str) -> np.ndarray:
        """All targets of a split (label indices or float values), in store key order."""
        return np.asarray([self.reader.read(key)[1] for key in self.reader.keys(split)])

    def batch_count(self, split: str) -> int:
        """Batches per epoch of ``split`` on one device, as its loader will have them (train: without a
        last batch of one sample); what the fit checks ``trainer.limit_*_batches`` against."""
        return n_batches(len(self.reader.keys(split)), self.batch_size, drop_single=split == "train")

    # ---- Lightning hooks ----
    def prepare_data(self) -> None:
        if self._resolved_cache_mode() != "none":
            self._decoded()

    def setup(self, stage: str | None = None) -> None:
        if self._loaders:
            return
        mode = self._resolved_cache_mode()
        if not self.reader.keys("train"):
            raise UserError(f"data.store: {self.store_path} has no train images; import more images")
        if not self.reader.keys("val"):
            raise UserError(f"data.store: {self.store_path} has no val images (validation needs some); "
                            "import more images")
        self._check_augment()
        for split in ("train", "val", "test"):
            self._loaders[split] = self._make_loader(split, mode)

    def train_dataloader(self):
        return self._loaders["train"]

    def val_dataloader(self):
        return self._loaders["val"]

    def test_dataloader(self):
        return self._loaders["test"]

    def predict_dataloader(self):
        return self._loaders["test"]

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if not isinstance(batch, (tuple, list)) or batch[0].dtype != torch.uint8:
            return batch  # e.g. the model summary's float example_input_array
        x, y = batch
        if self._norm is None or self._norm[0].device != x.device:
            mean, std = (torch.tensor(v, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
                         for v in self.mean_std)
            self._norm = (mean, std)
        return normalize_batch(x, *self._norm), y

    # ---- internals ----
    def _resolved_cache_mode(self) -> str:
        size, channels = self.image_size, self.channels
        check_batch_memory(size, channels, self.batch_size)  # the store's own size, when not given
        fits = dict(cache_dir=decoded_cache.cache_dir(self.reader, size, channels), asked=self.cache_mode != "auto")
        if self.cache_mode != "auto":
            mode = self.cache_mode
        else:
            mb = cache_bytes(self.reader, size, channels) / 2**20
            mode = "device" if mb <= self.hparams.device_limit_mb and self.transform is None else "decoded"
        free = self._device_free() if mode == "device" else None
        return fitting_cache_mode(self.reader, size, channels, mode, device_free=free, **fits)

    def _device_free(self) -> int | None:
        """Free bytes of the trainer's CUDA device (device mode is checked against it), else None (host RAM)."""
        device = self._device()
        return torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None

    def _decoded(self) -> decoded_cache.DecodedCache:
        """The decoded cache, built or opened (and checked) once per data module, not once per split."""
        if self._cache is None:
            self._cache = decoded_cache.get_or_build(self.reader, self.image_size, self.channels, self.num_workers)
        return self._cache

    def _check_augment(self) -> None:
        """Augmented train images must keep the shape val/test images have (and the model expects)."""
        if self.transform is None:
            return
        shape = (self.channels, self.image_size, self.image_size)
        out = self.transform(torch.zeros(shape, dtype=torch.uint8))
        if tuple(out.shape) != shape or out.dtype != torch.uint8:
            raise UserError(f"data.augment turns a {list(shape)} uint8 image into {list(out.shape)} {out.dtype}; "
                            f"augmentations must keep the shape: give crops size {self.image_size} "
                            f"(data.image_size) and keep outputs uint8")

    def _make_loader(self, split: str, mode: str):
        transform = self.transform if split == "train" else None
        if mode == "none":
            return self._workers_loader(split, StoreDataset(self.reader, split, self.image_size, self.channels,
                                                            transform))
        if mode == "device" and self.transform is not None:
            raise UserError("data.cache: device mode serves whole batches on the device and cannot run "
                            "per-image augmentations; use cache: decoded with data.augment")
        cache = self._decoded()
        if transform is not None:  # augmentations run per image: that is work for loader workers
            return self._workers_loader(split, ArrayDataset(*cache.split(split), transform=transform))
        x, y = decoded_cache.to_device(cache, split, self._device()) if mode == "device" else cache.split(split)
        trainer = getattr(self, "_trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        return BatchLoader(x, y, self.batch_size, shuffle=split == "train", seed=torch.initial_seed() % 2**63,
                           rank=rank, world_size=world, pin_memory=self.hparams.pin_memory,
                           drop_single=split == "train")

    def _workers_loader(self, split: str, dataset) -> DataLoader:
        # train: never end an epoch on a batch of one (BatchNorm cannot train on it); val/test complete
        sampler = RandomSampler(dataset) if split == "train" else SequentialSampler(dataset)
        batches = (TrainBatchSampler if split == "train" else BatchSampler)(sampler, self.batch_size, False)
        return DataLoader(dataset, batch_sampler=batches,
                          num_workers=self.num_workers, collate_fn=stack_batch, pin_memory=self.hparams.pin_memory,
                          worker_init_fn=worker_init,
                          persistent_workers=self.hparams.persistent_workers and self.num_workers > 0)

    def _device(self) -> torch.device:
        trainer = getattr(self, "_trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")
