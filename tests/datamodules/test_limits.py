"""Sizes that cannot fit are refused up front, naming the key and what they would need; a decoded
cache read back from disk is checked against its store before it is served."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from autolit.datamodules import StoreDataModule
from autolit.datamodules import cache as decoded_cache
from autolit.errors import UserError
from autolit.store import StoreReader
from autolit.system import memory_bytes
from tests.errors import says
from tests.synthetic import write_store
from tests.training.conftest import base_config

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_image_size_100000_is_refused_naming_the_key_and_the_memory(tiny_store):
    need = 64 * 100000 ** 2 * 5 / 2**30  # one batch of 64 grey images as uint8 + float32
    with pytest.raises(UserError, match=rf"^data.image_size 100000 with data.batch_size 64 needs {need:.1f} GiB "
                                        r"of memory for one batch .* more than half of this machine's "):
        StoreDataModule(str(tiny_store), image_size=100000)


def test_fit_with_image_size_100000_stops_at_once_with_one_line(tiny_store, tmp_path):
    """It used to be OOM-killed (exit 137) while computing the normalisation statistics."""
    config = base_config(tiny_store)
    config["data"]["image_size"] = 100000
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "autolit.fit", "--config", "c.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: data.image_size 100000 with data.batch_size 32 needs")


_CACHE_BIGGER_THAN_THE_DISK = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 30, 1 << 30))  # without the check: fail, not fill the disk
    from autolit.errors import run_cli
    from autolit.datamodules import StoreDataModule
    dm = StoreDataModule(sys.argv[1], image_size=int(sys.argv[2]), batch_size=1, cache="decoded", mean=[0.5], std=[0.5])
    run_cli(dm.prepare_data)
""")


def test_a_decoded_cache_larger_than_the_free_disk_is_refused(tmp_path):
    store = write_store(tmp_path / "s", n=150)
    free = shutil.disk_usage(store).free
    size = math.ceil(math.sqrt(1.5 * free / 150))  # the cache would need 1.5x the free space
    if size ** 2 * 5 > memory_bytes() // 2:
        pytest.skip("this machine's disk is too large for its memory to build the case")
    proc = subprocess.run([sys.executable, "-c", _CACHE_BIGGER_THAN_THE_DISK, str(store), str(size)],
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: data.cache: decoded: data.image_size {size} makes the decoded cache ")
    assert f"but {store} has" in line and "use data.cache: none" in line
    assert not (store / "cache").exists()


def _built_cache(tmp_path: Path) -> tuple[StoreReader, Path]:
    reader = StoreReader(write_store(tmp_path / "s", n=60))
    decoded_cache.get_or_build(reader, 8, 1)
    return reader, decoded_cache.cache_dir(reader, 8, 1)


def test_a_tampered_cache_split_table_is_refused(tmp_path):
    reader, path = _built_cache(tmp_path)
    ranges = json.loads((path / "splits.json").read_text())
    ranges["train"][1] += 5  # would serve val images as train (or read past the end)
    (path / "splits.json").write_text(json.dumps(ranges))
    with pytest.raises(UserError, match=rf"^decoded cache {path} is damaged \(splits.json range of train is "
                                        r".*delete that folder \(the next run rebuilds it from the store\)$"):
        decoded_cache.get_or_build(reader, 8, 1)


def test_a_truncated_or_reshaped_cache_is_refused(tmp_path):
    reader, path = _built_cache(tmp_path)
    images = path / "images.npy"
    data = images.read_bytes()
    images.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=rf"^decoded cache {path} is damaged \(ValueError: "):
        decoded_cache.get_or_build(reader, 8, 1)
    np.save(images, np.zeros((3, 1, 8, 8), dtype=np.uint8))  # a valid file of the wrong shape
    with says(UserError, 'is damaged', 'the store needs (60, 1, 8, 8)'):
        decoded_cache.get_or_build(reader, 8, 1)


def test_a_batch_of_the_stores_own_size_is_checked_too(tmp_path):
    """No data.image_size: the batch is sized from the store's images once they are known."""
    store = write_store(tmp_path / "s", n=30, size=8)
    batch = memory_bytes() // (8 * 8 * 5) + 1  # just over all of the memory at 8x8 grey
    dm = StoreDataModule(str(store), batch_size=batch, mean=[0.5], std=[0.5])
    with pytest.raises(UserError, match=rf"^data.image_size 8 with data.batch_size {batch} needs "):
        dm.setup("fit")
