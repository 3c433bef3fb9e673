"""Damaged and unwritable stores: one line naming the store (and the record) and the fix.

LMDB memory-maps ``data.mdb``; a file shorter than its committed pages (a truncated copy, a full
disk during a copy) makes the first read past the end a SIGBUS, which no Python code can catch.
:func:`check_data_file` therefore compares the file with the size its two meta pages declare
*before* LMDB opens it. The layout read here (LMDB 0.9, 64-bit) is::

    page header (16 bytes) | MDB_meta: magic u32, version u32, address u64, mapsize u64,
        2 x MDB_db (48 bytes; the first one's md_pad holds the page size), last_pg u64, txnid u64

Each page begins with that header; meta page 0 sits at offset 0 and meta page 1 at one page size.
LMDB uses the valid meta with the larger txnid, and every page up to its ``last_pg`` must exist.
"""

from __future__ import annotations

import struct
from pathlib import Path

import lmdb

from autolit.errors import UserError, one_line

DATA_FILE = "data.mdb"
MDB_MAGIC, MDB_VERSION = 0xBEEFC0DE, 1
_PAGE_HEADER = 16
_META = struct.Struct("<IIQQ")           # magic, version, address, mapsize
_PSIZE_AT = _PAGE_HEADER + 24            # mm_dbs[FREE_DBI].md_pad = the page size
_LAST_AT = _PAGE_HEADER + 24 + 2 * 48    # mm_last_pg, then mm_txnid
VERIFY = "python -m autolit.store verify"
# What LMDB reports about the bytes of data.mdb itself. Its other errors (a full reader table, a
# stale or foreign lock file, no memory) leave the data intact and have their own fix.
DAMAGE_ERRORS = (lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.InvalidError, lmdb.BadValsizeError,
                 lmdb.BadChecksumError)
_LOCK_FIX = "when no process uses the store, delete {store}/lock.mdb (not data.mdb!) and retry"
_FIXES = {
    lmdb.ReadersFullError: "all reader slots of its lock file are taken; close other processes reading the "
                           "store (trials, DataLoader workers) and retry",
    lmdb.VersionMismatchError: "its lock file lock.mdb was made by another LMDB version; " + _LOCK_FIX,
    lmdb.LockError: "its lock file lock.mdb is held by another process or stale; " + _LOCK_FIX,
    lmdb.MemoryError: "out of memory; free memory (fewer DataLoader workers or trials at once) and retry",
}


class StoreDamaged(UserError):
    """A store whose files or records cannot be read as written.

    Raised in a DataLoader worker, torch re-raises it in the main process as
    ``StoreDamaged("Caught StoreDamaged in DataLoader worker ... Original Traceback ... <message>")``;
    the constructor keeps only the original message, so the CLI still prints one clean line.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        marker = f"{type(self).__module__}.{type(self).__qualname__}: "
        lines = str(message).strip().splitlines()
        if len(lines) > 1 and lines[-1].startswith(marker):
            message = lines[-1][len(marker):]
        super().__init__(message)
        self.detail = detail or message  # what is wrong, without where and the fix (verify lists it)


def damaged(store: Path | str, detail: object, key: bytes | str | None = None) -> StoreDamaged:
    """The error for a bad record (``key``) or a bad store: what, where, and the fix."""
    if isinstance(key, bytes):
        key = key.decode("ascii", "replace")
    text = one_line(detail)
    if key:
        return StoreDamaged(f"record {key} of store {store} is damaged ({text}); run `{VERIFY} {store}` to "
                            "list every bad record, then rebuild the store from its source (delete it and "
                            "import again)", text)
    return StoreDamaged(f"store {store} is damaged ({text}); rebuild it from its source (delete {store} and "
                        "import again) or restore a copy", text)


def lmdb_failure(store: Path | str, exc: lmdb.Error, key: bytes | str | None = None) -> UserError:
    """The error for an LMDB failure: damage (:func:`damaged`) only when LMDB says the file is bad,
    else what went wrong and its fix, the store's data untouched."""
    if isinstance(exc, DAMAGE_ERRORS):
        return damaged(store, exc, key)
    fix = next((f for cls, f in _FIXES.items() if isinstance(exc, cls)),
               "check the folder, its permissions and free memory, and retry")
    return UserError(f"cannot open store {store} ({one_line(exc)}); {fix.format(store=store)}")


def unwritable(store: Path | str, detail: object) -> UserError:
    """The error for a store that cannot be written (read-only folder, full disk, file size limit)."""
    return UserError(f"cannot write store {store} ({one_line(detail)}); choose a writable location with "
                     "free space (or fix the folder's permissions / free disk space) and run the same "
                     "command again: every batch committed so far is kept")


def check_data_file(store: Path) -> None:
    """Refuse a ``data.mdb`` shorter than its committed pages (LMDB would SIGBUS on it)."""
    path = store / DATA_FILE
    if struct.calcsize("P") != 8:
        return  # the layout above is the 64-bit one
    if not path.exists():
        return  # a new store: LMDB creates the file
    try:
        size = path.stat().st_size
        if size == 0:
            return  # never initialised: LMDB writes the meta pages on its first open for writing
        with path.open("rb") as fh:
            first = fh.read(_LAST_AT + 16)
            psize = struct.unpack_from("<I", first, _PSIZE_AT)[0] if len(first) >= _PSIZE_AT + 4 else 0
            second = b""
            if 512 <= psize <= 1 << 16:
                fh.seek(psize)
                second = fh.read(_LAST_AT + 16)
    except OSError as exc:
        raise UserError(f"cannot read store {store} ({one_line(exc)}); check the path and its permissions") from None
    metas = [m for m in (_meta(first), _meta(second)) if m is not None]
    if not metas:
        raise damaged(store, f"{DATA_FILE} is not an LMDB file: no valid meta page")
    psize, last_pg = max(metas, key=lambda m: m[2])[:2]
    need = (last_pg + 1) * psize
    if size < need:
        raise damaged(store, f"{DATA_FILE} is truncated: {size} bytes, its last committed page needs {need}")


def _meta(page: bytes) -> tuple[int, int, int] | None:
    """(page size, last page, txnid) of one meta page, or None when it is not a valid one."""
    if len(page) < _LAST_AT + 16:
        return None
    magic, version, _, _ = _META.unpack_from(page, _PAGE_HEADER)
    psize = struct.unpack_from("<I", page, _PSIZE_AT)[0]
    last_pg, txnid = struct.unpack_from("<QQ", page, _LAST_AT)
    if magic != MDB_MAGIC or version != MDB_VERSION or not 512 <= psize <= 1 << 16:
        return None
    return psize, last_pg, txnid
