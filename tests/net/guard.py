"""The socket guard shared by the net and scrape tests: no test may dial a non-loopback address.

A conftest makes it autouse for its folder with ``from tests.net.guard import no_remote_connections``.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest


@pytest.fixture(autouse=True)
def no_remote_connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail any test that dials a non-loopback address (in this process); returns the log.

    Autouse: every refusal must be decided from the resolved address before connecting, so no
    test ever needs the network. (Subprocess tests are only given loopback URLs.)
    """
    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(address: object) -> None:
        if not isinstance(address, tuple):  # AF_UNIX paths: not the network
            return
        host = str(address[0])
        attempts.append(host)
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise AssertionError(f"test tried to connect to non-loopback {host}")

    def connect(self: socket.socket, address: object) -> None:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempts
