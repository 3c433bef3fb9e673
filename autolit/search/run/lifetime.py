"""Worker processes die with the search that started them, and write to log files, not the terminal.

A search worker is a spawned process. If the driver is SIGKILLed (OOM killer, lost terminal), a
worker would otherwise finish its trial and only then notice (``os.getppid()``) that its parent is
gone: minutes of an orphan holding a GPU. :func:`autolit.system.die_with_parent` asks the kernel to
send it SIGTERM the moment its parent dies (``prctl(PR_SET_PDEATHSIG)``); its DataLoader workers
follow (autolit's loaders arm the same helper, torch's own watchdog backs it up).

The terminal belongs to the driver, which prints one line per finished trial. A worker's own output
(Lightning's banners and tips, warnings, a crash's traceback) goes to ``worker-<slot>.log`` beside
the trial folders, and while a trial trains to that trial's ``trial.log``: :func:`redirect_output`
swaps file descriptors 1 and 2, so C-level writes and forked DataLoader workers follow too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from autolit.errors import UserError

def _open_log(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as exc:
        raise UserError(f"cannot write the log {path}: {exc.strerror}; give a writable --runs-dir") from None


def redirect_output(path: Path) -> None:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path`` from now on."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = _open_log(path)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


@contextlib.contextmanager
def output_to(path: Path, enabled: bool = True) -> Iterator[None]:
    """Within the block, stdout and stderr go to ``path``; afterwards back to where they went."""
    if not enabled:
        yield
        return
    saved = os.dup(1), os.dup(2)
    try:
        redirect_output(path)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
