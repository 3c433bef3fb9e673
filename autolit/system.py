"""Facts about this machine and the limits autolit holds every size to (a leaf: imports nothing).

Sizes read from files autolit did not just write (checkpoints, exports, stores, IDX headers) are
checked against these before anything is allocated, so a tampered number is an error, not an OOM.
"""

from __future__ import annotations

import os

#: the largest image side any file may declare: 4096 px is 48 MiB per RGB image as uint8
MAX_IMAGE_SIZE = 4096


def cpu_count() -> int:
    """Cores this process may use (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
