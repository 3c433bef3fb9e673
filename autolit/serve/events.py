"""The event stream: state changes, new metric points and new log lines of every job, one SSE stream.

Every event is a row of the table's ``events`` table, so its ``id:`` is a database id: a client
that reconnects with ``Last-Event-ID`` gets every event after it, also across a server restart.
State events are written by the table itself, in the transaction that changes the state; the
:class:`Watcher` thread adds ``log`` and ``metrics`` events for the running jobs once a second.
"""

from __future__ import annotations

import asyncio
import json
import threading
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from autolit.serve.jobs import LOG_FILE
from autolit.serve.progress import Readers, read_log
from autolit.serve.table import JobTable

WATCH_S = 1.0
STREAM_POLL_S = 0.25
KEEPALIVE_S = 15.0
MAX_EVENT_TEXT = 64 * 1024   # a log event carries at most this much new text (the log endpoint has all)
MAX_EVENT_POINTS = 500


class Watcher:
    """Turns what running jobs append (log bytes, scalars, trials) into events."""

    def __init__(self, table: JobTable, readers: Readers) -> None:
        self.table, self.readers = table, readers
        self.log_offsets: dict[int, int] = {}
        self.point_cursors: dict[int, int] = {}
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="autolit-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _loop(self) -> None:
        ticks = 0
        while not self._halt.wait(WATCH_S):
            try:
                self._pass(ticks)
            except Exception:  # noqa: BLE001 - a locked table or a vanished folder: the next second
                traceback.print_exc()
            ticks += 1

    def _pass(self, ticks: int) -> None:
        live = {job["id"]: job for job in self.table.live()}
        for job in live.values():
            self.look(job)
        for gone in set(self.point_cursors) - set(live):  # a job that just ended: its last lines
            job = self.table.get(gone)
            if job is not None:
                self.look(job)
            self.point_cursors.pop(gone, None)
        if ticks % 600 == 599:
            self.table.prune_events()

    def look(self, job: dict) -> None:
        """Emit what ``job`` appended since the last look."""
        job_id = job["id"]
        log = Path(job["folder"]) / LOG_FILE
        offset = self.log_offsets.get(job_id)
        if offset is None:  # first sight (also after a restart): go on from the last log event sent
            offset = self.table.last_log_offset(job_id)
        text, end, _ = read_log(log, offset, MAX_EVENT_TEXT)
        if end > offset:
            self.table.add_event(job_id, "log", {"id": job_id, "offset": offset, "next_offset": end, "text": text})
        self.log_offsets[job_id] = end
        try:
            reader = self.readers.get(job)
            reader.poll()
        except Exception:  # noqa: BLE001 - a half-written event file or a starting study: next time
            return
        cursor = self.point_cursors.get(job_id, 0)
        points = reader.points[cursor:]
        for start in range(0, len(points), MAX_EVENT_POINTS):
            self.table.add_event(job_id, "metrics", {"id": job_id, "points": points[start:start + MAX_EVENT_POINTS]})
        self.point_cursors[job_id] = cursor + len(points)


def format_event(row: dict) -> str:
    """One SSE message: ``id``, ``event`` (state | log | metrics | deleted) and the JSON ``data``."""
    return f"id: {row['id']}\nevent: {row['type']}\ndata: {json.dumps(json.loads(row['data']))}\n\n"


async def stream(table: JobTable, after: int, is_disconnected, halted: threading.Event) -> AsyncIterator[str]:
    """Every event after ``after``, then new ones as they come, until the client goes."""
    yield "retry: 2000\n\n"
    idle = 0.0
    while not halted.is_set():
        rows = await run_in_threadpool(table.events_after, after)
        for row in rows:
            after = row["id"]
            yield format_event(row)
        if rows:
            idle = 0.0
            continue
        if await is_disconnected():
            return
        await asyncio.sleep(STREAM_POLL_S)
        idle += STREAM_POLL_S
        if idle >= KEEPALIVE_S:
            idle = 0.0
            yield ": keep-alive\n\n"
