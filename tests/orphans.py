"""SIGKILL a process autolit started and look for what it left behind (Linux ``/proc``).

The process under test is started as a session leader (``start_new_session=True``); everything it
starts inherits the session id, so after the kill any process still in that session is an orphan,
wherever it was re-parented to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

needs_proc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            out.append(int(entry.name))
    return out


def wait_for_children(proc: subprocess.Popen, n: int, timeout: float = 60.0) -> list[int]:
    """Wait until the session of ``proc`` holds at least ``n`` processes besides ``proc``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        others = [p for p in session_members(proc.pid) if p != proc.pid]
        if len(others) >= n:
            return others
        if proc.poll() is not None:
            raise AssertionError(f"process ended (rc={proc.returncode}) before starting {n} children: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    raise AssertionError(f"no {n} children within {timeout} s")


def kill_and_count_survivors(proc: subprocess.Popen, wait: float = 10.0) -> list[int]:
    """SIGKILL ``proc``; the processes of its session still alive ``wait`` seconds later."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and session_members(proc.pid):
        time.sleep(0.1)
    survivors = session_members(proc.pid)
    for pid in survivors:  # leave no orphan behind even when the test fails
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return survivors
