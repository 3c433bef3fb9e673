"""A torch DataLoader with 4 workers reads every record of a split exactly once (fork and spawn),
each worker through an LMDB environment it opened itself."""

from __future__ import annotations

import hashlib
import multiprocessing
import os

import pytest
from torch.utils.data import DataLoader, Dataset

from autolit.store import SplitPolicy, StoreReader, StoreWriter, envs
from tests.store.helpers import png_bytes


class ShaDataset(Dataset):
    """Item i: (sha256 of the stored bytes of record i, the reading process, the process that
    opened the env the read went through)."""

    def __init__(self, reader: StoreReader, split: str) -> None:
        self.reader = reader
        self.keys = reader.keys(split)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> tuple[str, int, int]:
        data, _ = self.reader.read(self.keys[i])
        sha = hashlib.sha256(data).hexdigest()
        assert self.keys[i].endswith(sha.encode())
        opened_by = envs._READ_ENVS[envs.store_key(self.reader.path)][0]
        return sha, os.getpid(), opened_by


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("loader") / "s"
    with StoreWriter(path, labels=["a"], split=SplitPolicy(val=0.3, test=0.0)) as w:
        for seed in range(120):
            w.add_image(png_bytes(seed), label="a", source=str(seed))
    return path


@pytest.mark.filterwarnings("ignore:This DataLoader will create 4 worker processes")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_read_each_record_once(store, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"start method {method} not available on this platform")
    reader = StoreReader(store)
    dataset = ShaDataset(reader, "train")
    dataset[0]  # the parent reads first: its env must not leak into forked workers
    loader = DataLoader(dataset, batch_size=7, num_workers=4,
                        multiprocessing_context=multiprocessing.get_context(method))
    items = [item for shas, pids, owners in loader for item in zip(shas, pids.tolist(), owners.tolist())]
    seen = [sha for sha, _, _ in items]
    assert sorted(seen) == sorted(k.rsplit(b"/", 1)[1].decode() for k in dataset.keys)
    assert len(seen) == len(set(seen)) == reader.meta.splits["train"]
    readers = {pid for _, pid, _ in items}
    assert len(readers) == 4 and os.getpid() not in readers  # every read in a worker, all 4 read
    assert all(owner == pid for _, pid, owner in items)  # through an env that worker opened itself
    assert dataset[1][1:] == (os.getpid(), os.getpid())  # and the parent still reads after the fork
