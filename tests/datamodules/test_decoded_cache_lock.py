"""The decoded cache is built once when parallel trials need it at the same time (a lock beside it,
released by the kernel when its holder dies), and a place it cannot be written is one clear line."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import time
from pathlib import Path

from autolit.datamodules import cache as decoded_cache
from autolit.errors import UserError
from autolit.store import StoreReader
from tests.errors import says
from tests.synthetic import write_store

SIZE, CHANNELS = 16, 1


def _open_or_build(store: str, build_s: float, results) -> None:
    """In a child process: get the cache; each build takes ``build_s`` longer and says so."""
    original = decoded_cache._build

    def slow_build(*args, **kwargs):
        results.put(("build", os.getpid()))
        time.sleep(build_s)
        original(*args, **kwargs)

    decoded_cache._build = slow_build
    cache = decoded_cache.get_or_build(StoreReader(Path(store)), SIZE, CHANNELS)
    results.put(("opened", os.getpid(), str(cache.path), len(cache.images)))


def _children(store: Path, build_s: float, n: int) -> tuple[list, mp.Queue]:
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_open_or_build, args=(str(store), build_s, results)) for _ in range(n)]
    for proc in procs:
        proc.start()
    return procs, results


def test_two_processes_needing_one_cache_build_it_once(tmp_path):
    store = write_store(tmp_path / "s", n=60)
    procs, results = _children(store, 1.5, 2)  # each build is slow enough for the two to overlap
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    events = [results.get(timeout=5) for _ in range(3)]
    builds = [e for e in events if e[0] == "build"]
    opened = [e for e in events if e[0] == "opened"]
    assert len(builds) == 1, events  # the second waited, then opened the first one's cache
    assert len(opened) == 2 and opened[0][2:] == opened[1][2:] == (opened[0][2], 60)


def test_a_builder_killed_mid_build_releases_the_lock(tmp_path):
    store = write_store(tmp_path / "s", n=30)
    (holder,), results = _children(store, 600, 1)  # builds "forever"
    assert results.get(timeout=30)[0] == "build"  # it holds the lock now
    waiter, waiter_results = _children(store, 0, 1)
    time.sleep(1.0)
    assert waiter_results.empty()  # waiting for the holder
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    waiter[0].join(60)
    assert waiter[0].exitcode == 0
    assert [e[0] for e in (waiter_results.get(timeout=5), waiter_results.get(timeout=5))] == ["build", "opened"]


def test_a_cache_that_cannot_be_written_names_the_place_and_the_fix(tmp_path, tiny_store):
    store = tmp_path / "copy"
    shutil.copytree(tiny_store, store, ignore=shutil.ignore_patterns("cache"))  # other tests may have cached it
    (store / "cache").write_text("a file where the cache folder goes")
    with says(UserError, 'data.cache', 'cannot write the decoded cache', 'set data.cache: none'):
        decoded_cache.get_or_build(StoreReader(store), SIZE, CHANNELS)
