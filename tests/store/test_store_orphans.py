"""SIGKILL the process that started import-pool or DataLoader workers: none of them survives 10 s.

Before autolit.system.die_with_parent, pool workers of a killed import slept forever on
their task queue (~170 MB each), and DataLoader workers of a killed decoded-cache build went on
decoding the batches they had been handed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.orphans import kill_and_count_survivors, needs_proc, wait_for_children
from tests.store.helpers import REPO, make_class_folder, shared_data, slow_import_script, subprocess_env

pytestmark = needs_proc

# A folder import with a pool of 2, slowed in the parent so it is still running when killed.
_SLOW_POOL_IMPORT = slow_import_script(sleep=0.2, batch_size=4, workers=2)

# A decoded-cache build with 2 DataLoader workers, each record slowed so a batch takes minutes.
_SLOW_CACHE_BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from autolit.datamodules import cache, datasets
    from autolit.store import StoreReader
    from tests.synthetic import write_store
    load = datasets.StoreDataset._load
    def slow_load(self, index):
        time.sleep(0.5)
        return load(self, index)
    datasets.StoreDataset._load = slow_load
    store = write_store(Path(sys.argv[1]), n=600)
    cache.get_or_build(StoreReader(store), 8, 1, num_workers=2)
""")


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], env=subprocess_env(), cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_killed_folder_import_leaves_no_pool_worker(tmp_path):
    folder = make_class_folder(tmp_path / "imgs", per_class=100)  # 200 files: over the pool threshold
    proc = _start(["-c", _SLOW_POOL_IMPORT, str(folder), str(tmp_path / "s")])
    wait_for_children(proc, 2)
    assert kill_and_count_survivors(proc) == []


def test_killed_decoded_cache_build_leaves_no_loader_worker(tmp_path):
    proc = _start(["-c", _SLOW_CACHE_BUILD, str(tmp_path / "s")])
    wait_for_children(proc, 2, timeout=120)
    assert kill_and_count_survivors(proc) == []


@pytest.mark.realdata
def test_killed_mnist_import_leaves_no_pool_worker(tmp_path):
    data = shared_data()
    if data is None or not (data / "mnist").is_dir():
        pytest.skip("MNIST not found in ../shared/data (set AUTOLIT_SHARED_DATA)")
    proc = _start(["-m", "autolit.store", "import", "idx", str(data / "mnist"), "--store", str(tmp_path / "S"),
                   "--no-progress", "--workers", "2"])
    wait_for_children(proc, 2)
    assert kill_and_count_survivors(proc) == []
