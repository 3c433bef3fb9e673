"""The job table: SQLite under ``--home``, the one truth about every job and every event.

One connection, in WAL mode (readers outside the server, e.g. a benchmark, see committed rows
while it writes), guarded by one lock: every method is a short transaction. A state change is an
``UPDATE … WHERE state IN (…)`` whose row count says whether it happened, so two threads can never
both start a job, and an ended job never changes behind a resume. Each state change writes its
event in the same transaction (the event stream's ids are the ``events`` table's).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from autolit.serve.models import LIVE, State

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
    created_at REAL NOT NULL, started_at REAL, ended_at REAL,
    exit_code INTEGER, error TEXT, attempt INTEGER NOT NULL DEFAULT 0,
    slot TEXT, pid INTEGER, pid_start TEXT, stop_deadline REAL,
    folder TEXT NOT NULL DEFAULT '', storage TEXT, study_name TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE INDEX IF NOT EXISTS jobs_kind ON jobs (kind, id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER, type TEXT NOT NULL, data TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, type, id);
"""
MAX_EVENTS = 200_000  # older events are pruned; a client that far behind re-reads the jobs


class JobTable:
    """The jobs and events tables of ``path``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, body):  # noqa: ANN001 - a callable taking the connection
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = body(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    @staticmethod
    def _event(db: sqlite3.Connection, job_id: int | None, kind: str, data: dict[str, Any]) -> int:
        cur = db.execute("INSERT INTO events (job_id, type, data, at) VALUES (?, ?, ?, ?)",
                         (job_id, kind, json.dumps(data), time.time()))
        return int(cur.lastrowid)

    # ---- jobs ---------------------------------------------------------------------------
    def insert(self, kind: str, name: str, folder: Path, storage: str | None = None,
               study_name: str | None = None) -> int:
        """A new ``queued`` job."""
        def body(db: sqlite3.Connection) -> int:
            cur = db.execute("INSERT INTO jobs (kind, name, state, created_at, folder, storage, study_name) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", (kind, name, State.queued.value, time.time(),
                                                               str(folder), storage, study_name))
            job_id = int(cur.lastrowid)
            self._event(db, job_id, "state", {"id": job_id, "state": State.queued.value})
            return job_id
        return self._tx(body)

    def get(self, job_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row else None

    def list(self, *, states: Sequence[str] = (), kind: str | None = None, offset: int = 0,
             limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """Jobs newest first, and how many match."""
        where, args = [], []
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args += list(states)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM jobs {clause}", args).fetchone()[0]
            rows = self._db.execute(f"SELECT * FROM jobs {clause} ORDER BY id DESC LIMIT ? OFFSET ?",
                                    [*args, limit, offset]).fetchall()
        return [dict(r) for r in rows], int(total)

    def transition(self, job_id: int, to: State, *, when: Iterable[State], **fields: Any) -> bool:
        """Move ``job_id`` to ``to`` only if its state is one of ``when``; set ``fields`` with it."""
        allowed = [s.value for s in when]
        sets = ", ".join(["state = ?", *[f"{k} = ?" for k in fields]])

        def body(db: sqlite3.Connection) -> bool:
            cur = db.execute(f"UPDATE jobs SET {sets} WHERE id = ? AND state IN ({', '.join('?' * len(allowed))})",
                             [to.value, *fields.values(), job_id, *allowed])
            if cur.rowcount != 1:
                return False
            data = {"id": job_id, "state": to.value,
                    **{k: v for k, v in fields.items() if k in ("exit_code", "error", "attempt", "slot")}}
            self._event(db, job_id, "state", data)
            return True
        return self._tx(body)

    def update(self, job_id: int, **fields: Any) -> None:
        """Set bookkeeping fields (pid, deadline) without a state change."""
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._tx(lambda db: db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*fields.values(), job_id]))

    def next_queued(self) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE state = ? ORDER BY id LIMIT 1",
                                   (State.queued.value,)).fetchone()
        return dict(row) if row else None

    def live(self) -> list[dict[str, Any]]:
        """Jobs the table says have a process: running or stopping."""
        return self.list(states=[s.value for s in LIVE], limit=1_000_000)[0]

    def delete(self, job_id: int) -> bool:
        def body(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            if cur.rowcount:
                self._event(db, job_id, "deleted", {"id": job_id})
            return bool(cur.rowcount)
        return self._tx(body)

    # ---- events -------------------------------------------------------------------------
    def add_event(self, job_id: int | None, kind: str, data: dict[str, Any]) -> int:
        return self._tx(lambda db: self._event(db, job_id, kind, data))

    def events_after(self, after: int, limit: int = 500) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, job_id, type, data FROM events WHERE id > ? ORDER BY id LIMIT ?",
                                    (after, limit)).fetchall()
        return [dict(r) for r in rows]

    def last_log_offset(self, job_id: int) -> int:
        """Where the last ``log`` event of ``job_id`` ended (0 when none was sent)."""
        with self._lock:
            row = self._db.execute("SELECT data FROM events WHERE job_id = ? AND type = 'log' ORDER BY id DESC "
                                   "LIMIT 1", (job_id,)).fetchone()
        return int(json.loads(row["data"])["next_offset"]) if row else 0

    def last_event_id(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def prune_events(self, keep: int = MAX_EVENTS) -> None:
        self._tx(lambda db: db.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", (keep,)))
