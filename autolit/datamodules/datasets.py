"""What serves a store split: map-style datasets (decode-on-read from LMDB; the decoded uint8 cache
with per-image augmentations) for DataLoader workers, and :class:`BatchLoader` for plain slicing.

The datasets implement ``__getitems__`` so a DataLoader worker fetches a whole batch in one call and
returns it already stacked (``(B, C, S, S)`` uint8, ``(B,)`` targets): no per-sample collate.
Normalisation happens later on the device (``StoreDataModule.on_after_batch_transfer``).

In a DataLoader worker the datasets first make the worker die with its parent (whoever builds
the loader: training, the decoded-cache build), and a record that does not decode stops the run
with one line naming the store, the record and ``python -m autolit.store verify``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, Dataset, get_worker_info

from autolit.datamodules.preprocess import decode_image
from autolit.errors import one_line
from autolit.store import StoreReader
from autolit.store.damage import damaged
from autolit.system import die_with_parent

Batch = tuple[torch.Tensor, torch.Tensor]


def stack_batch(items: list[tuple[torch.Tensor, torch.Tensor]] | Batch) -> Batch:
    """``collate_fn`` that accepts what ``__getitems__`` returns (already a batch) or a list of samples."""
    if isinstance(items, tuple):
        return items
    xs, ys = zip(*items)
    return torch.stack(xs), torch.stack(ys)


def _targets(values: Sequence[int | float], regression: bool) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32 if regression else torch.long)


def decode_record(reader: StoreReader, key: bytes, size: int, channels: int) -> tuple[np.ndarray, int | float]:
    """``(C, size, size)`` uint8 pixels and the target of one record; a record that does not decode
    raises StoreDamaged naming the store, the key and the verify command."""
    data, target = reader.read(key)
    try:
        return decode_image(data, size, channels, max_side=reader.meta.policy.max_side), target
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure on stored bytes means damage
        raise damaged(reader.path, f"image bytes do not decode: {one_line(exc)}", key) from None


_armed_in = 0  # the process whose worker watch is set (a forked child inherits its parent's value)


def worker_init(worker_id: int = 0) -> None:
    """``worker_init_fn`` of every autolit DataLoader: the worker dies with the process iterating it."""
    global _armed_in
    if _armed_in != os.getpid():
        _armed_in = os.getpid()
        die_with_parent()


class _WorkerSafe:
    """Mixin: a worker of a DataLoader built without :func:`worker_init` (a user's own) is armed
    on its first read."""

    def _arm(self) -> None:
        if _armed_in != os.getpid() and get_worker_info() is not None:
            worker_init()


class StoreDataset(_WorkerSafe, Dataset):
    """Decodes records of one split straight from the LMDB store (the reader opens per worker)."""

    def __init__(self, reader: StoreReader, split: str, size: int, channels: int,
                 transform: Callable | None = None) -> None:
        self.reader = reader
        self.keys = reader.keys(split)
        self.size, self.channels, self.transform = size, channels, transform
        self.regression = reader.meta.task == "regression"

    def __len__(self) -> int:
        return len(self.keys)

    def _load(self, index: int) -> tuple[torch.Tensor, int | float]:
        self._arm()
        pixels, target = decode_record(self.reader, self.keys[index], self.size, self.channels)
        x = torch.from_numpy(pixels)
        if self.transform is not None:
            x = self.transform(x)
        return x, target

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, target = self._load(index)
        return x, _targets([target], self.regression)[0]

    def __getitems__(self, indices: list[int]) -> Batch:
        xs, ts = zip(*(self._load(i) for i in indices))
        return torch.stack(xs), _targets(ts, self.regression)


class ArrayDataset(_WorkerSafe, Dataset):
    """Serves a split of the decoded cache: numpy (memory-mapped) ``(N, C, S, S)`` uint8 + targets."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, transform: Callable | None = None) -> None:
        self.images, self.targets, self.transform = images, targets, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]

    def __getitems__(self, indices: list[int]) -> Batch:
        self._arm()
        order = np.asarray(indices)
        x = torch.from_numpy(np.ascontiguousarray(self.images[order]))  # one fancy-index copy per batch
        if self.transform is not None:
            x = torch.stack([self.transform(img) for img in x])
        return x, torch.from_numpy(np.ascontiguousarray(self.targets[order]))


def n_batches(count: int, batch_size: int, drop_single: bool) -> int:
    """Batches of ``count`` samples; ``drop_single``: a last batch of one sample is dropped (train:
    BatchNorm cannot train on one value per channel), unless it is the only batch."""
    full, rest = divmod(count, batch_size)
    return full + (1 if rest > 1 or (rest == 1 and (full == 0 or not drop_single)) else 0)


class TrainBatchSampler(BatchSampler):
    """``BatchSampler`` whose last batch is never a lone sample (unless it is the only batch).

    ``n_train % batch_size == 1`` used to end every epoch on a batch of one, on which BatchNorm
    fails ("Expected more than 1 value per channel when training"). Shuffled, so a different
    sample sits out each epoch. Lightning rebuilds it over a DistributedSampler under DDP.
    """

    def __iter__(self) -> Iterator[list[int]]:
        batches = list(super().__iter__())  # index lists of one epoch: small
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches.pop()
        yield from batches

    def __len__(self) -> int:
        if self.drop_last:
            return super().__len__()
        return n_batches(len(self.sampler), self.batch_size, drop_single=True)


class BatchLoader:
    """Whole batches by indexing arrays directly, in the training process: no workers, no collate.

    Serves the decoded cache (numpy, memory-mapped: one fancy-index copy per batch) and device mode
    (tensors already on the training device: no host-to-device copy at all). Slicing a uint8 array
    costs microseconds, so loader workers would only add inter-process copies; they are kept for
    splits that run augmentations. Shuffling uses its own seeded generator so runs replay.

    With several processes (DDP) the order is padded to a multiple of ``world_size`` by repeating
    its start, as torch's ``DistributedSampler`` does (for every split), and each rank takes every
    ``world_size``-th sample: all ranks run the same number of batches, so no rank waits forever in
    an all-reduce the others never join. ``drop_single`` (train): a last batch of one sample is
    dropped unless it is the only one (see :class:`TrainBatchSampler`).
    """

    def __init__(self, images: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor,
                 batch_size: int, shuffle: bool, seed: int = 0, *, rank: int = 0, world_size: int = 1,
                 pin_memory: bool = False, drop_single: bool = False) -> None:
        self.images, self.targets = images, targets
        self.batch_size, self.shuffle, self.drop_single = batch_size, shuffle, drop_single
        self.rank, self.world_size = rank, world_size
        self.pin_memory = pin_memory and isinstance(images, np.ndarray) and torch.cuda.is_available()
        self.generator = torch.Generator().manual_seed(seed)

    def _count(self) -> int:
        """Samples per rank: ceil(N / world_size), as DistributedSampler without drop_last."""
        return -(-len(self.images) // self.world_size)

    def __len__(self) -> int:
        return n_batches(self._count(), self.batch_size, self.drop_single)

    def _order(self) -> torch.Tensor:
        n = len(self.images)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        pad = self._count() * self.world_size - n
        if pad and n:
            order = torch.cat([order, order.repeat(-(-pad // n))[:pad]])  # DistributedSampler's padding
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[Batch]:
        order = self._order()
        on_device = isinstance(self.images, torch.Tensor)
        if on_device:
            order = order.to(self.images.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start:start + self.batch_size]
            if on_device:
                yield self.images[idx], self.targets[idx]
                continue
            rows = idx.numpy()
            x, y = torch.from_numpy(self.images[rows]), torch.from_numpy(self.targets[rows])
            yield (x.pin_memory(), y.pin_memory()) if self.pin_memory else (x, y)
