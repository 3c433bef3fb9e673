"""A downloader for untrusted image URLs: pinned addresses, bounded time, bounded bytes.

Every hop (the URL and each redirect, at most ``max_redirects``) goes through
:class:`~autolit.net.netpolicy.NetPolicy` first, and the connection is opened to the address
that was checked, not to a fresh DNS answer. Time is bounded three ways: a connect timeout, a
per-read timeout and a whole-download deadline (a watchdog closes the socket when it passes, so
even a server that trickles its headers one byte a second is cut off). The deadline also caps
each connect and is checked before each hop's DNS lookup (the lookup itself is the resolver's). Bytes are counted while
streaming; a body is never read past ``max_bytes``.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin

from autolit.errors import one_line
from autolit.net.netpolicy import NetPolicy, Refused, Target

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "autolit-scrape/0.1 (+https://github.com/autolit/autolit; dataset builder)"
CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    """Bounds for one download (all hops together for ``deadline``)."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 60.0
    max_bytes: int = 20_000_000
    max_redirects: int = 5
    per_host: int = 4  # concurrent downloads per host: be polite, avoid tripping rate limits


@dataclass(frozen=True)
class Fetched:
    """A successful download."""

    url: str          # final URL after redirects
    data: bytes
    redirects: int


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to a fixed address; ``host`` still names the Host header."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address; SNI and certificate check use the URL's host name."""

    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._ctx = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(raw, server_hostname=self.host)


class SafeFetcher:
    """Fetch untrusted URLs under a :class:`NetPolicy` and :class:`FetchLimits`. Thread-safe.

    :meth:`fetch` returns :class:`Fetched` or raises :class:`Refused` with a short reason code:
    ``bad_scheme``, ``bad_url``, ``dns``, ``blocked_address``, ``too_many_redirects``,
    ``http_<code>``, ``not_image``, ``too_many_bytes``, ``timeout``, ``deadline``, ``connect``,
    ``tls``, ``bad_response``.
    """

    def __init__(self, policy: NetPolicy, limits: FetchLimits = FetchLimits(),
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.policy = policy
        self.limits = limits
        # Certificates are verified against the URL's host name (default context); tests pass
        # a context that trusts their own CA.
        self._tls = tls_context or ssl.create_default_context()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    def fetch(self, url: str) -> Fetched:
        """Download ``url`` following at most ``max_redirects`` re-checked redirects."""
        deadline = time.monotonic() + self.limits.deadline
        current = url
        for hop in range(self.limits.max_redirects + 1):
            if time.monotonic() >= deadline:  # before DNS too: the deadline bounds every step
                raise Refused("deadline", f"download took more than {self.limits.deadline:g} s")
            target = self.policy.check(current)  # every hop: scheme, resolution, address
            with self._slot(target.host):
                result = self._get(target, deadline)
            if isinstance(result, str):  # a redirect: the Location, resolved against this URL
                try:
                    current = urljoin(current, result)
                except ValueError as exc:  # a Location that is not a URL, e.g. "http://[oops/"
                    raise Refused("bad_url", f"redirect to an invalid URL: {exc}") from None
                continue
            return Fetched(current, result, hop)
        raise Refused("too_many_redirects", f"more than {self.limits.max_redirects} redirects")

    @contextmanager
    def _slot(self, host: str) -> Iterator[None]:
        with self._slots_lock:
            slot = self._slots.setdefault(host, threading.BoundedSemaphore(self.limits.per_host))
        with slot:
            yield

    def _connection(self, target: Target, timeout: float) -> http.client.HTTPConnection:
        if target.scheme == "https":
            return _PinnedHTTPS(target, timeout, self._tls)
        return _PinnedHTTP(target, timeout)

    def _get(self, target: Target, deadline: float) -> bytes | str:
        """One request. Returns the body, or the Location of a redirect (a str)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Refused("deadline", f"no time left for {target.host}")
        # The watchdog only watches a connected socket, so the connect is bounded by what is left.
        conn = self._connection(target, min(self.limits.connect_timeout, remaining))
        watchdog = _Watchdog(remaining)
        try:
            return self._exchange(conn, target, deadline, watchdog)
        except Refused:
            raise
        except (TimeoutError, socket.timeout):
            raise _timeout_or_deadline(deadline, "read or connect timed out") from None
        except ssl.SSLError as exc:
            raise Refused("tls", one_line(exc)) from None
        except (http.client.HTTPException, OSError) as exc:
            if time.monotonic() >= deadline:
                raise Refused("deadline", f"download took more than {self.limits.deadline:g} s") from None
            reason = "bad_response" if isinstance(exc, http.client.HTTPException) else "connect"
            raise Refused(reason, one_line(exc)) from None
        finally:
            watchdog.cancel()
            conn.close()

    def _exchange(self, conn: http.client.HTTPConnection, target: Target, deadline: float,
                  watchdog: _Watchdog) -> bytes | str:
        conn.connect()
        # Keep our own reference: http.client drops conn.sock once a response will close it.
        sock = conn.sock
        watchdog.arm(sock)
        sock.settimeout(min(self.limits.read_timeout, max(0.01, deadline - time.monotonic())))
        conn.request("GET", target.path, headers={
            "User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.5", "Accept-Encoding": "identity"})
        response = conn.getresponse()
        try:
            if response.status in REDIRECT_CODES:
                location = response.getheader("Location")
                if not location:
                    raise Refused(f"http_{response.status}", "redirect without Location")
                return location
            if response.status != 200:
                raise Refused(f"http_{response.status}", response.reason or "")
            content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if content_type.startswith("text/"):
                raise Refused("not_image", f"Content-Type {content_type}")
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > self.limits.max_bytes:
                raise Refused("too_many_bytes", f"Content-Length {length} > {self.limits.max_bytes}")
            return self._read_body(sock, response, deadline)
        finally:
            response.close()

    def _read_body(self, sock: socket.socket, response: http.client.HTTPResponse,
                   deadline: float) -> bytes:
        """Stream the body, counting bytes and checking the deadline between reads."""
        chunks: list[bytes] = []
        total = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Refused("deadline", f"download took more than {self.limits.deadline:g} s")
            sock.settimeout(min(self.limits.read_timeout, left))
            # read1: return what has arrived, so a trickling server cannot hold us in one read.
            chunk = response.read1(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > self.limits.max_bytes:
                raise Refused("too_many_bytes", f"body exceeds {self.limits.max_bytes} bytes")
            chunks.append(chunk)
        if time.monotonic() >= deadline:  # EOF caused by the watchdog, not by the server
            raise Refused("deadline", f"download took more than {self.limits.deadline:g} s")
        return b"".join(chunks)


class _Watchdog:
    """Shuts the socket down when the whole-download deadline passes.

    Per-read timeouts cannot stop a server that sends one byte just often enough (headers
    included); shutting the socket down unblocks whatever read is in progress.
    """

    def __init__(self, seconds: float) -> None:
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def arm(self, sock: socket.socket) -> None:
        """Watch ``sock`` (shut it down at once if the deadline already passed)."""
        with self._lock:
            self._sock = sock
            if self._fired:
                _shutdown(sock)

    def cancel(self) -> None:
        """The download ended in time (or otherwise): stop the timer."""
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            if self._sock is not None:
                _shutdown(self._sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _timeout_or_deadline(deadline: float, detail: str) -> Refused:
    if time.monotonic() >= deadline:
        return Refused("deadline", "whole-download deadline passed")
    return Refused("timeout", detail)

