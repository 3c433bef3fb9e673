"""The import's progress bar: rich on a terminal, nothing in a pipe or log file."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from tests.conftest import REPO

BAR = ("from autolit.store.report import Progress\n"
       "bar = Progress(5, 'import demo')\n"
       "for _ in range(5):\n    bar.update()\n"
       "bar.close()\n")


def _on_a_terminal(code: str) -> str:
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdout and stderr are the pty
        os.chdir(REPO)
        os.execv(sys.executable, [sys.executable, "-c", code])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the pty
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode(errors="replace")


def test_the_import_bar_is_drawn_by_rich_on_a_terminal():
    shown = _on_a_terminal(BAR)
    assert "import demo" in shown and "5/5" in shown and "━" in shown  # rich's bar, its M/N column


def test_the_import_bar_writes_nothing_into_a_pipe():
    done = subprocess.run([sys.executable, "-c", BAR], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
