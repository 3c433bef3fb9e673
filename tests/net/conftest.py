"""Fixtures for the net room's tests: a local HTTP server on 127.0.0.1 and the socket guard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.net.guard import no_remote_connections  # noqa: F401 - autouse: no test here leaves loopback
from tests.net.servers import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A fresh image host (and SerpApi stand-in) on 127.0.0.1."""
    with LocalServer() as srv:
        yield srv
