"""Opening a store's LMDB environment, with the user-facing checks shared by reader and writer.

Every open and write failure becomes one line naming the store and the fix (``damage.py``): a
truncated file is refused before LMDB maps it, a store nobody can write is read without LMDB's lock file,
and a full disk or a folder that cannot be written is reported with the committed data intact.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import lmdb

from autolit.errors import UserError, one_line
from autolit.store.damage import DAMAGE_ERRORS, DATA_FILE, check_data_file, damaged, lmdb_failure, unwritable
from autolit.store.schema import META_KEY, SCHEMA_VERSION

WRITER_LOCK = "writer.lock"
_FS_IOC_GETFLAGS, _FS_IMMUTABLE_FL = 0x80086601, 0x10  # linux/fs.h
# Each DataLoader worker of each process holds one reader slot; LMDB's default (126) is tight
# when several trials share a store.
MAX_READERS = 1024


_IMPORTER_NAMES: list[Callable[[], list[str]]] = []  # set by the importer registry, which imports this module


def import_hint() -> str:
    """How to create a store, naming the importers of the registry (once it is loaded)."""
    names = "|".join(_IMPORTER_NAMES[0]()) if _IMPORTER_NAMES else "<kind>"
    return f"create one with `python -m autolit.store import {names} ... --store PATH`"


def name_importers(names: Callable[[], list[str]]) -> None:
    """Called by :mod:`autolit.store.importers`: the hint lists what its registry holds."""
    _IMPORTER_NAMES[:] = [names]


def is_store(path: Path) -> bool:
    """True when ``path`` looks like a store directory (has an LMDB data file)."""
    return (path / DATA_FILE).is_file()


def check_existing_store(path: Path) -> None:
    """Raise a UserError unless ``path`` is an existing store directory."""
    if not path.exists():
        raise UserError(f"store {path} does not exist; {import_hint()}")
    if not path.is_dir():
        raise UserError(f"store {path} is a file, not a store directory; pass the store folder")
    if not is_store(path):
        raise UserError(f"{path} is not an autolit store (no {DATA_FILE}); {import_hint()}")


def check_new_store_location(path: Path) -> None:
    """A writer may create a store only in a new or empty directory (never inside user data)."""
    if path.exists() and not path.is_dir():
        raise UserError(f"store path {path} is a file; pass a directory for the store, e.g. {path}.store")
    if path.is_dir() and not is_store(path) and any(p.name != WRITER_LOCK for p in path.iterdir()):
        raise UserError(
            f"{path} exists, is not empty and is not an autolit store; "
            "choose a new or empty directory for --store"
        )


# LMDB forbids opening one environment twice in a process (py-lmdb raises "already open"), and an
# environment must never be used across fork. So each process keeps at most one env per store:
# the env of its open StoreWriter if there is one (readers borrow it), else one shared read-only
# env that every StoreReader of that store uses. Keys are real paths; values remember the pid.
_READ_ENVS: dict[str, tuple[int, lmdb.Environment]] = {}
_WRITE_ENVS: dict[str, tuple[int, lmdb.Environment]] = {}
_GUARD = threading.RLock()


def store_key(path: Path) -> str:
    """Identity of a store in the per-process env tables."""
    return os.path.realpath(path)


def reader_env(key: str) -> lmdb.Environment:
    """This process's env for reading the store ``key``: its open writer's, else a shared
    read-only one (opened on first use)."""
    pid = os.getpid()
    entry = _WRITE_ENVS.get(key) or _READ_ENVS.get(key)
    if entry is not None and entry[0] == pid:
        return entry[1]
    with _GUARD:
        entry = _READ_ENVS.get(key)
        if entry is None or entry[0] != pid:
            _READ_ENVS[key] = (pid, open_env(Path(key), readonly=True))
        return _READ_ENVS[key][1]


def close_reader_env(key: str | None = None) -> None:
    """Close the shared read env of one store (or all); readers reopen on their next read."""
    with _GUARD:
        for k in [key] if key is not None else list(_READ_ENVS):
            entry = _READ_ENVS.pop(k, None)
            if entry is not None and entry[0] == os.getpid():
                entry[1].close()


def writer_env(key: str) -> lmdb.Environment | None:
    """The env of a StoreWriter open on the store ``key`` in this process, if any."""
    entry = _WRITE_ENVS.get(key)
    return entry[1] if entry is not None and entry[0] == os.getpid() else None


def open_writer_env(path: Path, map_size: int) -> lmdb.Environment:
    """Open the store for writing (closing this process's read env of it first)."""
    key = store_key(path)
    with _GUARD:
        close_reader_env(key)
        env = open_env(path, readonly=False, map_size=map_size)
        _WRITE_ENVS[key] = (os.getpid(), env)
        return env


def close_writer_env(path: Path) -> None:
    """Close and unregister this process's writer env of ``path``."""
    with _GUARD:
        entry = _WRITE_ENVS.pop(store_key(path), None)
        if entry is not None and entry[0] == os.getpid():
            entry[1].close()


if hasattr(os, "register_at_fork"):
    # Readers only run short transactions, so closing their envs before a fork loses nothing;
    # parent and child both reopen on their next read. (A StoreWriter must not be open across
    # a fork; importers start their fork pool before opening the writer, see pool.py.)
    os.register_at_fork(before=close_reader_env)


def open_env(path: Path, *, readonly: bool, map_size: int = 1 << 28) -> lmdb.Environment:
    """Open the environment and clear reader slots left by dead processes (reader_check).

    Raises a UserError (never a SIGBUS) for a truncated file, and for any other open failure.
    """
    check_data_file(path)
    try:
        env = _lmdb_open(path, readonly=readonly, map_size=map_size, lock=True)
    except lmdb.Error as exc:
        if isinstance(exc, DAMAGE_ERRORS) or _writable(path):
            raise lmdb_failure(path, exc) from None
        if not readonly:
            raise unwritable(path, exc) from None
        if not nobody_can_write(path):
            # Without reader locks a writer (another user of a shared folder) may reuse pages
            # this reader is still reading.
            raise UserError(
                f"cannot read store {path} ({one_line(exc)}): LMDB must write its lock file lock.mdb there "
                "while others may write the store; make lock.mdb group-writable "
                f"(chmod g+w {path / 'lock.mdb'}) or copy the store to a folder of your own") from None
        # A read-only file system or a store nobody may write (chmod a-w, chattr +i): LMDB cannot
        # open its lock file there, and no writer can change pages under a reader, so reading
        # without reader locks is safe.
        try:
            return _lmdb_open(path, readonly=True, map_size=map_size, lock=False)
        except lmdb.Error as again:
            raise lmdb_failure(path, again) from None
    try:
        env.reader_check()
    except lmdb.Error as exc:
        env.close()
        raise lmdb_failure(path, exc) from None
    return env


def _lmdb_open(path: Path, *, readonly: bool, map_size: int, lock: bool) -> lmdb.Environment:
    return lmdb.open(str(path), subdir=True, readonly=readonly, lock=lock, map_size=map_size,
                     max_readers=MAX_READERS, max_dbs=0, readahead=False, meminit=False)


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and all(
        os.access(f, os.W_OK) for f in (path / DATA_FILE, path / "lock.mdb") if f.exists())


def nobody_can_write(path: Path) -> bool:
    """True when no user can write the store ``path``: its file system is mounted read-only, or
    neither the folder nor its data file has a write bit (or they are immutable, ``chattr +i``)."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return True
        return all(_frozen(p) for p in (path, path / DATA_FILE))
    except OSError:
        return False  # cannot tell: assume someone may write


def _frozen(path: Path) -> bool:
    """No write bit for anyone, or the immutable attribute (which binds root too)."""
    if not os.stat(path).st_mode & 0o222:
        return True
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        flags = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, bytes(8))
    except OSError:
        return False  # a file system without attribute flags
    finally:
        os.close(fd)
    return bool(int.from_bytes(flags[:4], sys.byteorder) & _FS_IMMUTABLE_FL)


def write_txn(env: lmdb.Environment, fn: Callable[[lmdb.Transaction], None]) -> None:
    """Run ``fn`` in one write txn; on MapFullError double the map and run it again.

    A failed commit (full disk, file size limit, I/O error) aborts the txn, so nothing of it is on
    disk; it is reported as one line naming the store.
    """
    while True:
        try:
            with env.begin(write=True) as txn:
                fn(txn)
            return
        except lmdb.MapFullError:
            # The txn was aborted by the context manager: nothing of it is on disk.
            # set_mapsize must run with no transaction open in this process.
            env.set_mapsize(env.info()["map_size"] * 2)
        except lmdb.Error as exc:
            raise unwritable(env.path(), exc) from None


def read_meta(env: lmdb.Environment, path: Path, *, missing_ok: bool = False) -> dict | None:
    """Read and version-check the store meta (a damaged one is reported, not a traceback).

    ``missing_ok``: None for an empty database (a store whose first commit never happened); a
    database with entries but no meta is never a store.
    """
    try:
        with env.begin(buffers=False) as txn:
            raw = txn.get(META_KEY)
            entries = txn.stat()["entries"] if raw is None else 0
        if raw is None and missing_ok and not entries:
            return None
        if raw is None and not entries:
            raise UserError(f"{path} holds no store yet: an import is writing its first batch, or stopped "
                            "before it; wait for it, or run the import again (it resumes into this folder)")
        if raw is None:
            raise UserError(f"{path} is an LMDB database but not an autolit store (no meta key; {entries} "
                            f"other entries): it is left untouched; {import_hint()} in another folder")
        meta = json.loads(raw)
    except lmdb.Error as exc:
        raise lmdb_failure(path, exc) from None
    except ValueError as exc:  # bytes that are not UTF-8 JSON
        raise damaged(path, f"meta: {exc}") from None
    if not isinstance(meta, dict):
        raise damaged(path, f"meta is a {type(meta).__name__}, not an object")
    check_schema(meta, path)
    return meta


def check_schema(meta: dict, path: Path) -> None:
    """Refuse stores written by a newer autolit (their layout may differ)."""
    try:
        version = int(meta.get("schema_version", 0))
    except (TypeError, ValueError):
        raise damaged(path, f"schema_version {meta.get('schema_version')!r} is not a number") from None
    if version > SCHEMA_VERSION:
        raise UserError(
            f"store {path} has schema version {version}, newer than version {SCHEMA_VERSION} that "
            "this autolit reads; upgrade autolit (pip install -U autolit)"
        )
    if version < 1:
        raise UserError(f"store {path} has an invalid schema version {version!r}; rebuild the store")


def acquire_writer_lock(path: Path) -> int:
    """Take the store's writer lock (released by the OS if the process dies)."""
    try:
        fd = os.open(path / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise unwritable(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise UserError(
            f"store {path} is already being written by another process (pid {holder}); "
            "wait for that import to finish, or use a different --store"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
    except OSError as exc:  # a full disk or a file size limit: closing the fd drops the lock
        os.close(fd)
        raise unwritable(path, exc) from None
    return fd


def release_writer_lock(fd: int) -> None:
    """Drop the writer lock taken by :func:`acquire_writer_lock`."""
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
