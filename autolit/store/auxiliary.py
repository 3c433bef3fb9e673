"""Auxiliary JSON stored beside the records (``x/<name>``, e.g. normalisation statistics).

Written here, read by :meth:`StoreReader.get_aux`; not part of the fingerprint, so derived data
can be cached in a store without changing what the store is.
"""

from __future__ import annotations

from pathlib import Path

from autolit.store import schema
from autolit.store.envs import (
    check_existing_store, close_reader_env, open_env, store_key, write_txn, writer_env,
)


def put_aux(path: str | Path, name: str, value: dict) -> None:
    """Store a small JSON blob next to the data (one short write txn).

    Writes through the env of a StoreWriter open in this process, else opens the store for writing
    (LMDB allows one env per store and process, so this process's read env is closed first).
    """
    path = Path(path)
    check_existing_store(path)
    key = store_key(path)
    borrowed = writer_env(key)
    if borrowed is None:
        close_reader_env(key)
    env = borrowed or open_env(path, readonly=False, map_size=1 << 20)
    try:
        write_txn(env, lambda txn: txn.put(schema.aux_key(name), schema.dumps(value)))
    finally:
        if borrowed is None:
            env.close()
