"""User-facing errors and the one place that turns them into a clean exit.

A :class:`UserError` is a mistake the user can fix (a bad path, a malformed config, a wrong key).
Entry points wrap their ``main`` in :func:`run_cli`, which prints the message on one line to
stderr and exits with status 2: no Python traceback for mistakes the user can fix. Bugs still
raise normally so they are seen.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn


class UserError(Exception):
    """A mistake in user input. The message says what is wrong, where, and the fix."""


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on one line to stderr and exit with status 2."""
    one_line = " ".join(str(message).split())
    print(f"error: {one_line}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def run_cli(main: Callable[[], int | None]) -> NoReturn:
    """Run an entry point; a :class:`UserError` becomes a one-line message and exit code 2."""
    try:
        code = main()
    except UserError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(code or 0)
