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
