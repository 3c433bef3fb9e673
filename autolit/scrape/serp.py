"""A small adapter over the ``google-search-results`` client for Google Images via SerpApi.

Why an adapter and not the client directly: the client (``serpapi.GoogleSearch``) waits up to
60000 s by default, ignores HTTP status codes and puts ``api_key`` in the query string of every
URL that ``requests`` echoes in its exceptions. Here we set real timeouts, map status codes to
actions (401/403 stop, 429/5xx back off and retry, ``{"error": ...}`` ends the results) and scrub
the key from every message we raise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from serpapi import GoogleSearch

from autolit.errors import UserError, one_line
from autolit.scrape.scrub import scrub_text

DEFAULT_SERPAPI_URL = "https://serpapi.com"
# requests' errors for a URL that cannot be requested at all (retrying would only wait).
_BAD_URL_ERRORS = (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                   requests.exceptions.InvalidURL)


class SerpApiError(UserError):
    """SerpApi could not answer (key refused, rate limit not lifting, not JSON): stop the run."""


@dataclass(frozen=True)
class ImageResult:
    """One entry of ``images_results``; every field may be missing in the wild."""

    position: int
    original: str | None
    thumbnail: str | None
    link: str | None
    source: str | None
    title: str | None


@dataclass(frozen=True)
class SerpConfig:
    """Where and how patiently to ask SerpApi."""

    base_url: str = DEFAULT_SERPAPI_URL
    engine: str = "google_images"
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 4            # extra attempts on 429/5xx/network errors
    retry_delay: float = 2.0    # first back-off; doubles each attempt, Retry-After honoured (capped)
    max_retry_delay: float = 60.0
    max_pages: int = 20         # ``ijn`` pages per query at most (100 results each on Google Images)


class _Client(GoogleSearch):
    """The stock client pointed at ``base_url`` with our timeouts (instance attributes only)."""

    def __init__(self, params: dict[str, Any], base_url: str, timeout: tuple[float, float]) -> None:
        super().__init__(params)
        self.BACKEND = base_url.rstrip("/")  # class attribute in the client; shadow per instance
        self.timeout = timeout


class _Retry(Exception):
    """Internal: this attempt failed in a way worth another try."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class SerpApiImages:
    """Pages of Google Images results for a query, one ``ijn`` page at a time.

    Args:
        api_key: the SerpApi key (from ``SERPAPI_API_KEY``); never appears in anything we raise.
        config: endpoint, timeouts and retry policy.
        sleep: injected for tests so back-off costs no wall time.
        on_retry: told (scrubbed text) before each back-off, e.g. to print a warning.
    """

    def __init__(self, api_key: str, config: SerpConfig = SerpConfig(),
                 sleep: Callable[[float], None] = time.sleep,
                 on_retry: Callable[[str], None] | None = None) -> None:
        if not api_key:
            raise UserError("SERPAPI_API_KEY is empty: export SERPAPI_API_KEY=<your key> "
                            "(https://serpapi.com/manage-api-key)")
        self._key = api_key
        self.config = config
        self._sleep = sleep
        self._on_retry = on_retry
        self.requests_made = 0

    def pages(self, query: str, chips: str | None = None) -> Iterator[list[ImageResult]]:
        """Yield result pages (``ijn`` = 0, 1, ...) until results run out or ``max_pages``."""
        seen: set[tuple[str | None, str | None]] = set()
        for ijn in range(self.config.max_pages):
            page = self.page(query, ijn, chips)
            # A page that only repeats earlier results means the engine is looping: stop.
            fresh = [r for r in page if (r.original, r.thumbnail) not in seen]
            if not fresh:
                return
            seen.update((r.original, r.thumbnail) for r in fresh)
            yield fresh

    def page(self, query: str, ijn: int, chips: str | None = None) -> list[ImageResult]:
        """One page of results; ``[]`` when SerpApi says there are no (more) results."""
        data = self._request_json(self._params(query, ijn, chips))
        if "error" in data:
            return []  # SerpApi reports "no results" as {"error": "..."} with HTTP 200
        raw = data.get("images_results") or []
        return [_to_result(entry, i) for i, entry in enumerate(raw) if isinstance(entry, dict)]

    def _params(self, query: str, ijn: int, chips: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"engine": self.config.engine, "q": query, "ijn": ijn,
                                  "api_key": self._key}
        if self.config.engine == "google":
            params["tbm"] = "isch"
        if chips:
            params["chips"] = chips
        return params

    def _request_json(self, params: dict[str, Any]) -> dict[str, Any]:
        """Ask once plus up to ``retries`` more times; raise :class:`SerpApiError` when it fails."""
        delay = self.config.retry_delay
        last = ""
        for attempt in range(self.config.retries + 1):
            try:
                return self._attempt(dict(params))
            except _Retry as retry:
                last = str(retry)
                if attempt == self.config.retries:
                    break
                wait = min(retry.wait if retry.wait is not None else delay,
                           self.config.max_retry_delay)
                if self._on_retry is not None:
                    self._on_retry(f"SerpApi: {last}; retrying in {wait:g} s")
                self._sleep(wait)
                delay *= 2
        raise SerpApiError(f"SerpApi at {self._where()} still fails after "
                           f"{self.config.retries + 1} attempts ({last}); wait and run again "
                           "(the run resumes), or check --serpapi-url")

    def _attempt(self, params: dict[str, Any]) -> dict[str, Any]:
        """One HTTP request, classified. Exceptions carry scrubbed text only."""
        client = _Client(params, self.config.base_url,
                         (self.config.connect_timeout, self.config.read_timeout))
        self.requests_made += 1
        failure, fatal = None, False
        try:
            response = client.get_response()
        except requests.RequestException as exc:
            # Only the scrubbed text leaves this block: the exception itself holds the raw URL.
            failure = self._scrub(f"{type(exc).__name__}: {exc}")
            fatal = isinstance(exc, _BAD_URL_ERRORS)
        if fatal:  # no retry makes a malformed endpoint work: say so at once
            raise SerpApiError(f"--serpapi-url {self._scrub(self.config.base_url)!r} is not a usable "
                               f"http(s) URL ({failure}); pass e.g. {DEFAULT_SERPAPI_URL}")
        if failure is not None:
            raise _Retry(f"network error: {failure}")
        return self._classify(response)

    def _classify(self, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        data = _json_object(response.text)  # parsed once: pages of results are ~100 kB
        message = self._error_message(data)
        if status in (401, 403):
            raise SerpApiError(f"SerpApi refused the API key (HTTP {status} from {self._where()}): "
                               f"{message or 'no message'}; check SERPAPI_API_KEY")
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}: {message or 'no message'}", _retry_after(response))
        if status != 200:
            raise SerpApiError(f"SerpApi rejected the request (HTTP {status} from {self._where()}): "
                               f"{message or 'no message'}; check the query and --chips")
        if data is None:
            kind = response.headers.get("Content-Type", "unknown type")
            raise _Retry(f"HTTP 200 but not a JSON object ({self._scrub(kind)})")
        return data

    def _error_message(self, data: dict[str, Any] | None) -> str:
        """The ``error`` field of a JSON body, scrubbed and on one line ('' if none)."""
        error = data.get("error") if data is not None else None
        return one_line(self._scrub(str(error)), 300) if error else ""

    def _where(self) -> str:
        return self._scrub(self.config.base_url.rstrip("/") + "/search")

    def _scrub(self, text: str) -> str:
        return scrub_text(text, [self._key])


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` parsed as a JSON object, or None when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a numeric ``Retry-After`` header, if any."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _to_result(entry: dict[str, Any], index: int) -> ImageResult:
    def text(name: str) -> str | None:
        value = entry.get(name)
        return value if isinstance(value, str) and value else None

    position = entry.get("position")
    return ImageResult(
        position=position if isinstance(position, int) else index + 1,
        original=text("original"), thumbnail=text("thumbnail"), link=text("link"),
        source=text("source"), title=text("title"),
    )
