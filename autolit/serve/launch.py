"""Start a job's command so that it dies with the server: ``python -m autolit.serve.launch PID -- CMD…``.

The runner starts every job (and export) through this: it arms
:func:`autolit.system.die_with_parent` (the kernel's parent-death signal, which survives ``exec``)
and then *becomes* the command with ``os.execvp`` (same pid, same process group). Doing the same
in a ``preexec_fn`` would run Python and start a thread in a child forked from the threaded server.
"""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m autolit.serve.launch PARENT_PID -- COMMAND [ARGS...]")
    from autolit.system import die_with_parent

    die_with_parent(int(argv[0]), signal.SIGKILL)  # exits at once if the server is already gone
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
