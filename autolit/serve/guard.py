"""The gate in front of every route: the bearer token, and a cap on request bodies.

With a token, every request (``/docs`` and ``GET`` included) needs ``Authorization: Bearer
<token>``, compared in constant time (:func:`hmac.compare_digest`). A body is refused with 413
from its ``Content-Length``, and counted while it streams in (a chunked upload cannot pass the
cap by not saying its size). Uploads (``/predict``) get a larger cap than everything else.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

MAX_BODY = 1024 * 1024  # a job request: YAML configs of a few kB


class TooLarge(BaseException):
    """Raised from ``receive``; a BaseException so the framework's body parsing (which turns an
    ``Exception`` into a 400) lets it through to the guard, which answers 413."""


class Guard:
    """Pure ASGI middleware (does not buffer bodies, keeps SSE streaming)."""

    def __init__(self, app: Any, token: str | None, max_upload: int, max_body: int = MAX_BODY) -> None:
        self.app, self.token, self.max_upload, self.max_body = app, token, max_upload, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token is not None and not self._authorized(headers.get("authorization", "")):
            await _answer(send, 401, "missing or wrong token: send Authorization: Bearer <token>",
                          {"www-authenticate": "Bearer"})
            return
        cap = self.max_upload if scope["path"].endswith("/predict") else self.max_body
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            await _answer(send, 413, f"request body of {length} bytes is over the limit of {cap} bytes")
            return
        seen, started = 0, False

        async def counted_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise TooLarge
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except TooLarge:
            if not started:
                await _answer(send, 413, f"request body is over the limit of {cap} bytes")

    def _authorized(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())


async def _answer(send: Any, status: int, message: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": {"message": message, "key": None, "value": None}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
