"""Batch counts: equal on every DDP rank (DistributedSampler's padding), and a train epoch never
ends on a batch of one sample (BatchNorm cannot train on it); val/test stay complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import SequentialSampler

from autolit.datamodules import StoreDataModule
from autolit.datamodules.datasets import BatchLoader, TrainBatchSampler
from autolit.store import StoreReader
from tests.synthetic import write_store


def loader(n: int, batch: int, *, rank: int = 0, world: int = 1, shuffle: bool = False,
           drop_single: bool = False) -> BatchLoader:
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)
    return BatchLoader(images, np.arange(n), batch, shuffle=shuffle, rank=rank, world_size=world,
                       drop_single=drop_single)


def sizes(batches) -> list[int]:
    return [len(y) for _, y in batches]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize(("n", "batch", "world"), [(10, 2, 4), (9, 4, 2), (3, 2, 4), (1, 3, 2), (13, 5, 3)])
def test_every_rank_runs_the_same_batches_and_together_they_cover_the_split(n, batch, world, shuffle):
    """10 samples, 4 ranks, batch 2 used to give [2, 2, 1, 1] batches: an all-reduce deadlock."""
    ranks = [loader(n, batch, rank=r, world=world, shuffle=shuffle) for r in range(world)]
    assert len({len(r) for r in ranks}) == 1
    served = [list(r) for r in ranks]
    assert [len(b) for b in served] == [len(r) for r in ranks]
    assert len({tuple(sizes(b)) for b in served}) == 1
    seen = [int(v) for b in served for _, y in b for v in y]
    assert sorted(set(seen)) == list(range(n)) and len(seen) == -(-n // world) * world  # padded, as DDP


def test_one_process_is_unchanged():
    assert sizes(loader(10, 4)) == [4, 4, 2] and len(loader(10, 4)) == 3


@pytest.mark.parametrize(("n", "batch", "train", "eval_"), [
    (9, 4, [4, 4], [4, 4, 1]),   # the lone last sample sits out (a different one each shuffled epoch)
    (5, 2, [2, 2], [2, 2, 1]),
    (1, 4, [1], [1]),            # a split smaller than a batch is never dropped entirely
    (6, 4, [4, 2], [4, 2]),
])
def test_train_drops_a_last_batch_of_one(n, batch, train, eval_):
    drop = loader(n, batch, shuffle=True, drop_single=True)
    assert sizes(drop) == train and len(drop) == len(train)
    assert sizes(loader(n, batch)) == eval_ and len(loader(n, batch)) == len(eval_)
    sampler = TrainBatchSampler(SequentialSampler(range(n)), batch, False)
    assert [len(b) for b in sampler] == train and len(sampler) == len(train)


def test_ranks_agree_after_the_drop_too():
    ranks = [loader(9, 2, rank=r, world=2, shuffle=True, drop_single=True) for r in range(2)]
    assert [sizes(r) for r in ranks] == [[2, 2], [2, 2]] and {len(r) for r in ranks} == {2}


@pytest.mark.parametrize("mode", ["none", "decoded", "device"])
def test_no_train_batch_of_one_in_any_mode(tmp_path: Path, mode: str):
    store = write_store(tmp_path / "s", n=90)
    counts = StoreReader(store).meta.splits
    batch = counts["train"] - 1  # n_train % batch_size == 1
    dm = StoreDataModule(str(store), batch_size=batch, cache=mode)
    dm.setup("fit")
    assert sizes(dm.train_dataloader()) == [batch] and len(dm.train_dataloader()) == 1
    val = StoreDataModule(str(store), batch_size=counts["val"] - 1, cache=mode)
    val.setup("fit")
    assert sum(sizes(val.val_dataloader())) == counts["val"]  # eval splits stay complete
    assert isinstance(next(iter(dm.train_dataloader()))[0], torch.Tensor)
