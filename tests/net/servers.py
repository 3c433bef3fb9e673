"""Local stand-ins for SerpApi and for image hosts: real HTTP on 127.0.0.1, in a thread.

One :class:`LocalServer` answers ``/search`` like SerpApi's Google Images endpoint (pages by
``ijn``, 401 on a wrong key, an optional 429 once) and serves every other path from a route
table: fixed bytes, redirects, status codes, a lazily generated 1 GiB body without
Content-Length, and a body that trickles one byte a second.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

NO_RESULTS = "Google hasn't returned any results for this query."
INVALID_KEY = "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"


@dataclass
class Route:
    """What one path serves.

    ``kind``: bytes | redirect | status | endless (1 GiB, no length) | trickle (1 byte/s body)
    | slow_headers (headers at 1 byte/0.2 s) | stall (headers, then silence) ; ``delay`` seconds
    are slept before answering (to observe concurrency).
    """

    kind: str = "bytes"
    data: bytes = b""
    content_type: str = "image/jpeg"
    status: int = 200
    location: str = ""
    delay: float = 0.0


@dataclass
class FakeSerp:
    """Pages of ``images_results`` per query, and the failures to inject."""

    key: str
    pages: dict[str, list[list[dict]]] = field(default_factory=dict)
    fail_once: dict[tuple[str, int], int] = field(default_factory=dict)  # (q, ijn) → status
    always: int | None = None  # answer every search with this status (e.g. 500)
    body: bytes | None = None  # answer every search with this raw body (non-JSON tests)
    seen_params: list[dict[str, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close-delimited bodies: the endless body needs no length
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass  # keep pytest output clean

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        parts = urlsplit(self.path)
        parts = parts._replace(path=unquote(parts.path))
        owner = self.server.owner
        owner.count(parts.path, self.headers.get("Host", ""))
        try:
            if parts.path == "/search":
                self._search({k: v[0] for k, v in parse_qs(parts.query).items()})
            else:
                with owner.active():
                    self._route(owner.routes.get(parts.path, Route(kind="status", status=404)))
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client gave up (byte cap, deadline): exactly what the test wants

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _search(self, params: dict[str, str]) -> None:
        serp = self.server.owner.serp
        serp.seen_params.append(params)
        if params.get("api_key") != serp.key:
            return self._json(401, {"error": INVALID_KEY})
        if serp.body is not None:
            return self._send(200, serp.body, "text/html")
        if serp.always is not None:
            return self._json(serp.always, {"error": f"HTTP {serp.always} from fake"})
        query, ijn = params.get("q", ""), int(params.get("ijn", "0"))
        status = serp.fail_once.pop((query, ijn), None)
        if status is not None:
            return self._json(status, {"error": "Your account has hit its hourly limit."})
        pages = serp.pages.get(query, [])
        if ijn >= len(pages):
            return self._json(200, {"search_metadata": {"status": "Success"}, "error": NO_RESULTS})
        return self._json(200, {"search_metadata": {"status": "Success"},
                                "images_results": pages[ijn]})

    def _route(self, route: Route) -> None:
        time.sleep(route.delay)
        if route.kind == "slow_headers":
            for byte in b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\nX-Slow: " + b"a" * 100:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
            return
        if route.kind == "bytes":
            return self._send(route.status, route.data, route.content_type)
        if route.kind == "redirect":
            status = route.status if route.status in (301, 302, 303, 307, 308) else 302
            return self._send(status, b"", "text/plain", {"Location": route.location})
        if route.kind == "status":
            return self._send(route.status, b"not here", "text/plain")
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        self.end_headers()  # no Content-Length: the body ends when we close
        if route.kind == "endless":
            chunk = b"\xff" * 65536
            for _ in range((1 << 30) // len(chunk)):  # 1 GiB, generated lazily
                self.wfile.write(chunk)
        elif route.kind == "stall":
            self.wfile.flush()
            time.sleep(30)
        elif route.kind == "trickle":
            for _ in range(120):
                self.wfile.write(b"\xff")
                self.wfile.flush()
                time.sleep(1.0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: LocalServer

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client closing early is expected here


class LocalServer:
    """SerpApi stand-in plus image host on one 127.0.0.1 port; use as a context manager."""

    def __init__(self, key: str = "secret-test-key", tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.serp = FakeSerp(key=key)
        self.hits: Counter[str] = Counter()
        self.hosts: list[str] = []
        self.max_active = 0
        self._active = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.scheme = "https" if tls else "http"
        if tls is not None:  # the TLS handshake then happens in accept(), in the server thread
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT`` (the --serpapi-url)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of a route path."""
        return self.base + path

    def count(self, path: str, host: str) -> None:
        """Record one request (thread-safe)."""
        with self._lock:
            self.hits[path] += 1
            self.hosts.append(host)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Count concurrent image requests (``max_active`` keeps the peak)."""
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def image_hits(self) -> int:
        """Requests for anything but the search endpoint."""
        with self._lock:
            return sum(n for path, n in self.hits.items() if path != "/search")

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
