"""What a test asserts about an error message: the key it names, our own reason, one line.

``pytest.raises(match=...)`` with a whole message pins every word, so a rewording (or a library's
own text quoted inside ours: torch's state_dict report, LMDB's errno text) breaks tests that are
about something else. :func:`says` checks what the user needs from the message instead; each room
keeps one golden test that pins a whole message word for word (marked ``# golden``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def says(kind: type[BaseException], key: str, *phrases: str) -> Iterator[pytest.ExceptionInfo]:
    """Expect ``kind`` whose message names ``key`` (key path, file, flag) and holds each phrase
    (plain text, not regexes), on one line, as the CLIs print it."""
    with pytest.raises(kind) as info:
        yield info
    text = str(info.value)
    assert "\n" not in text, f"not one line: {text!r}"
    for part in (key, *phrases):
        assert part in text, f"{part!r} is not in the message {text!r}"
