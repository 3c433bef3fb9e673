"""What autolit asks of the machine: the CPUs and memory it may use, the largest image it accepts,
and child processes that die with their parent.

A leaf module (standard library only) so every room can use it: import pools, DataLoader workers,
search workers, and every check of a size read from a file autolit did not just write. :func:`die_with_parent` is the one rule for "every process autolit starts must
exit when the process that started it dies, whatever killed it" (a SIGKILL or the OOM killer run
no cleanup in the parent, so the child has to notice by itself).
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
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
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (taskset, cpusets), or the container's CPU
    quota (cgroup ``cpu.max``, rounded up) if lower."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    quota = _cpu_quota()
    return max(1, min(cpus, quota) if quota is not None else cpus)


def _cpu_quota() -> int | None:
    """CPUs the cgroup quota allows (ceil of quota/period, at least 1), or None when unlimited."""
    try:
        fields = CGROUP_CPU_MAX.read_text().split()
    except OSError:
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except (IndexError, ValueError):  # "max 100000" (no quota) or a malformed file
        return None
    return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None


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
    """Make this (child) process exit as soon as its parent ``parent`` dies.

    Call it first thing in the child: a pool initializer (``initializer=die_with_parent,
    initargs=(os.getpid(),)`` from the parent) or a DataLoader worker. On Linux the kernel sends
    SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``; note it fires when the *thread*
    that started the child exits, so start children from a thread that outlives them); everywhere,
    a daemon thread also checks ``os.getppid()`` every :data:`WATCH_SECONDS` and exits when the
    process was re-parented. A parent that died before this call is caught too; without ``parent``
    that needs a child started by :mod:`multiprocessing` (pools, DataLoader workers: the parent
    recorded its own pid in it), else ``os.getppid()`` at the call is taken (so a parent that died
    before it goes unnoticed; pass ``parent`` then). ``sig`` is the
    signal the kernel sends: SIGKILL for pool and loader workers, SIGTERM for search workers (their
    handler fails the running trial cleanly).
    """
    if parent is None:
        started_by = multiprocessing.parent_process()
        parent = started_by.pid if started_by is not None and started_by.pid else os.getppid()
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
