"""User-facing errors and the one place that turns them into a clean exit.

A :class:`UserError` is a mistake the user can fix (a bad path, a malformed config, a wrong key).
Entry points wrap their ``main`` in :func:`run_cli`, which prints the message on one line to
stderr and exits with status 2: no Python traceback for mistakes the user can fix. Bugs still
raise normally so they are seen.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Iterable
from typing import NoReturn


class UserError(Exception):
    """A mistake in user input. The message says what is wrong, where, and the fix."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'X'?)"`` for the closest choice, or ``""`` when none is close."""
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f" (did you mean '{close[0]}'?)" if close else ""


def invalid_value(key: str, value: object, owner: str, must: str, example: str,
                  names: Iterable[str] = ()) -> UserError:
    """The one wording of a config value out of range: ``key: value is not valid for owner (must be
    …); fix: e.g. arg: example``, where a name of ``names`` close to a misspelt value is the example."""
    shown = list(value) if isinstance(value, tuple) else value
    close = difflib.get_close_matches(value, list(names), n=1, cutoff=0.6) if isinstance(value, str) else []
    return UserError(f"{key}: {shown!r} is not valid for {owner} (must be {must}); "
                     f"fix: e.g. {key.rsplit('.', 1)[-1]}: {close[0] if close else example}")


def one_line(text: object, limit: int = 200) -> str:
    """``text`` (an exception's too: ``Type: message``) on one line, at most ``limit`` characters."""
    if isinstance(text, BaseException):
        text = f"{type(text).__name__}: {text}"
    return " ".join(str(text).split())[:limit]


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on one line to stderr and exit with status 2."""
    print(f"error: {one_line(message, limit=10_000)}", file=sys.stderr, flush=True)
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
    except BrokenPipeError:  # the reader went away (`… | head`): stop quietly, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exit's flush cannot fail again
        raise SystemExit(141) from None  # 128 + SIGPIPE
    raise SystemExit(code or 0)
