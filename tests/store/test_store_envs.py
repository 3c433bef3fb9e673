"""Opening a store's LMDB environment: which failures are damage, when reading without LMDB's
lock file is safe, and the writer lock."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import lmdb
import pytest

from autolit.errors import UserError
from autolit.store import StoreReader, envs
from autolit.store.damage import StoreDamaged, lmdb_failure
from tests.errors import says
from tests.synthetic import write_store


@pytest.mark.parametrize("cls", [lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.InvalidError,
                                 lmdb.BadValsizeError])
def test_only_errors_about_the_file_itself_are_damage(cls):
    error = lmdb_failure("/s", cls("bad page"), b"s/train/00")
    assert isinstance(error, StoreDamaged)
    assert str(error).startswith("record s/train/00 of store /s is damaged (")


@pytest.mark.parametrize(("cls", "fix"), [
    (lmdb.ReadersFullError, "all reader slots of its lock file are taken; close other processes reading"),
    (lmdb.VersionMismatchError, "made by another LMDB version; when no process uses the store, delete /s/lock.mdb"),
    (lmdb.LockError, "held by another process or stale; when no process uses the store, delete /s/lock.mdb "
                     "(not data.mdb!) and retry"),
    (lmdb.MemoryError, "out of memory; free memory"),
    (lmdb.Error, "check the folder, its permissions and free memory, and retry"),
])
def test_other_lmdb_errors_name_the_error_and_their_own_fix(cls, fix):
    error = lmdb_failure("/s", cls("mdb_txn_begin: it failed"))
    assert type(error) is UserError  # was: "damaged; delete the store and import again"
    assert str(error).startswith(f"cannot open store /s ({cls.__name__}: mdb_txn_begin: it failed); ")
    assert fix in str(error) and "damaged" not in str(error)


def test_a_full_reader_table_is_not_reported_as_damage(tmp_path, monkeypatch):
    store = write_store(tmp_path / "s", n=6)
    envs.close_reader_env()
    (store / "lock.mdb").unlink()  # LMDB sizes the reader table when it creates the lock file
    monkeypatch.setattr(envs, "MAX_READERS", 1)
    reader = StoreReader(store)
    held = reader._begin()  # the only reader slot
    try:
        with pytest.raises(UserError, match=r"\(ReadersFullError: .*all reader slots .* are taken") as caught:
            reader.keys("train")
        assert not isinstance(caught.value, StoreDamaged)
    finally:
        held.abort()
        envs.close_reader_env()
    assert len(StoreReader(store).keys()) == 6


def test_a_scan_failing_before_its_first_key_is_reported(tmp_path, monkeypatch):
    store = write_store(tmp_path / "s", n=6)
    reader = StoreReader(store)

    def cursor():
        raise lmdb.CorruptedError("mdb_cursor_open: page of the wrong type")

    monkeypatch.setattr(reader, "_begin", lambda: SimpleNamespace(cursor=cursor, abort=lambda: None))
    with pytest.raises(StoreDamaged, match=r"damaged \(mdb_cursor_open: page of the wrong type\)"):
        reader.keys("train")  # was: UnboundLocalError (out read by the except clause)


def _store_files(tmp_path: Path) -> Path:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "data.mdb").write_bytes(b"")
    return folder


def test_lockless_reading_only_when_nobody_can_write(tmp_path, monkeypatch):
    """Mode bits, not access(2): another user (a group member) may write what this one cannot."""
    folder = _store_files(tmp_path)
    try:
        for folder_mode, data_mode, expected in [(0o555, 0o444, True), (0o575, 0o444, False),
                                                 (0o555, 0o464, False), (0o755, 0o644, False)]:
            folder.chmod(folder_mode)
            (folder / "data.mdb").chmod(data_mode)
            assert envs.nobody_can_write(folder) is expected, (oct(folder_mode), oct(data_mode))
        real = os.statvfs
        monkeypatch.setattr(envs.os, "statvfs", lambda p: SimpleNamespace(f_flag=real(p).f_flag | os.ST_RDONLY))
        assert envs.nobody_can_write(folder)  # a read-only mount
    finally:
        folder.chmod(0o755)


def test_an_immutable_store_counts_as_unwritable(tmp_path):
    folder = _store_files(tmp_path)
    paths = [str(folder), str(folder / "data.mdb")]
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *paths], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        assert envs.nobody_can_write(folder)
    finally:
        subprocess.run(["chattr", "-i", *paths], check=True)


def test_a_shared_store_others_may_write_is_not_read_without_locks(tmp_path, monkeypatch):
    store = write_store(tmp_path / "s", n=6)
    envs.close_reader_env()
    real = envs._lmdb_open

    def lock_file_refused(path, *, lock, **kw):
        if lock:
            raise lmdb.Error(f"{path}/lock.mdb: Permission denied")
        raise AssertionError("opened without reader locks while others may write")

    monkeypatch.setattr(envs, "_lmdb_open", lock_file_refused)
    monkeypatch.setattr(envs, "_writable", lambda path: False)  # this user cannot write; the group can
    with says(UserError, 'cannot read store',
              'LMDB must write its lock file',
              'make lock.mdb group-writable',
              'or copy the store'):
        StoreReader(store)
    monkeypatch.setattr(envs, "_lmdb_open", real)
    monkeypatch.setattr(envs, "nobody_can_write", lambda path: True)
    monkeypatch.setattr(envs, "_lmdb_open", lambda path, *, lock, **kw: real(path, lock=False, **kw) if not lock
                        else lock_file_refused(path, lock=True))
    assert StoreReader(store).meta.count == 6  # nobody can write: lock-less reading is safe
    envs.close_reader_env()


def test_a_writer_lock_that_cannot_record_its_pid_is_released(tmp_path, monkeypatch):
    (tmp_path / "s").mkdir()
    before = len(os.listdir("/proc/self/fd"))

    def full(fd, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(envs.os, "ftruncate", full)
    with pytest.raises(UserError, match=r"cannot write store .*s \(OSError: \[Errno 28\] No space left"):
        envs.acquire_writer_lock(tmp_path / "s")  # was: a raw traceback and a leaked fd
    assert len(os.listdir("/proc/self/fd")) == before
    monkeypatch.undo()
    envs.release_writer_lock(envs.acquire_writer_lock(tmp_path / "s"))  # the lock is free again
