"""What autolit asks of the machine: the CPUs and memory it may use, the largest image it accepts,
and child processes that die with their parent.

A leaf module (standard library only) so every room can use it: import pools, DataLoader workers,
search workers, and every check of a size read from a file autolit did not just write. :func:`die_with_parent` is the one rule for "every process autolit starts must
exit when the process that started it dies, whatever killed it" (a SIGKILL or the OOM killer run
no cleanup in the parent, so the child has to notice by itself).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from pathlib import Path

#: the largest image side any file may declare: 4096 px is 48 MiB per RGB image as uint8
MAX_IMAGE_SIZE = 4096
_PR_SET_PDEATHSIG = 1      # linux/prctl.h
WATCH_SECONDS = 0.5        # how often the fallback watchdog looks at the parent
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or a CPU quota)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def memory_bytes() -> int:
    """Memory this process may use: physical memory, or the container's (cgroup) limit if lower."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 1 << 40
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def die_with_parent(parent: int | None = None, sig: int = signal.SIGKILL) -> None:
    """Make this (child) process exit as soon as its parent ``parent`` (default: the current one) dies.

    Call it first thing in the child: a pool initializer (``initializer=die_with_parent,
    initargs=(os.getpid(),)`` from the parent) or a DataLoader worker. On Linux the kernel sends
    SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``; note it fires when the *thread*
    that started the child exits, so start children from a thread that outlives them); everywhere,
    a daemon thread also checks ``os.getppid()`` every :data:`WATCH_SECONDS` and exits when the
    process was re-parented. A parent that died before this call is caught too. ``sig`` is the
    signal the kernel sends: SIGKILL for pool and loader workers, SIGTERM for search workers (their
    handler fails the running trial cleanly).
    """
    parent = os.getppid() if parent is None else parent
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no libc prctl (unusual builds): the watchdog still works
    if os.getppid() != parent:
        os._exit(1)  # the parent is already gone
    threading.Thread(target=_watch, args=(parent,), name="autolit-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    event = threading.Event()
    while not event.wait(WATCH_SECONDS):
        if os.getppid() != parent:
            os._exit(1)  # no cleanup: the parent that would want the results is gone
