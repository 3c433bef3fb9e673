"""Headless Chromium for tests: Playwright for Python driving Debian's ``/usr/bin/chromium``.

No browser is downloaded (``executable_path``), and the network is off: every request that is
not ``file:``, ``data:``, ``blob:`` or to 127.0.0.1 / localhost is aborted and recorded, on top of
a host resolver that resolves nothing. A page from :func:`open_page` collects what went wrong on
it (uncaught JavaScript errors, ``console.error``, failed or aborted requests, HTTP errors) in
``page.errors``, so a test can assert it stayed empty.

    with browser() as b:
        page = open_page(b, index.resolve().as_uri())
        assert page.errors == []
        shot(page, tmp_path / "page.png")
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

CHROMIUM = os.environ.get("AUTOLIT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
VIEWPORT = {"width": 1280, "height": 900}


def available() -> str | None:
    """Why no browser test can run here (the reason for ``pytest.skip``), or None when one can."""
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@contextlib.contextmanager
def browser() -> Iterator:
    """A headless Chromium, closed (with its driver) on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def is_local(url: str) -> bool:
    """A URL the tests may load: a local file or a server on this machine's loopback."""
    parsed = urlparse(url)
    return parsed.scheme in LOCAL_SCHEMES or (parsed.scheme in {"http", "https", "ws"} and
                                              parsed.hostname in LOCAL_HOSTS)


def new_page(chromium, viewport: dict | None = None):
    """A page in a fresh context with the network off and ``page.errors`` collecting failures."""
    context = chromium.new_context(viewport=viewport or VIEWPORT, service_workers="block")
    page = context.new_page()
    page.errors = []

    def route(r) -> None:
        if is_local(r.request.url):
            r.continue_()
        else:
            page.errors.append(f"blocked (network is off): {r.request.url}")
            r.abort("blockedbyclient")

    context.route("**/*", route)
    page.on("pageerror", lambda exc: page.errors.append(f"javascript error: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and page.errors.append(f"console.error: {msg.text}"))
    page.on("requestfailed", lambda req: is_local(req.url) and page.errors.append(
        f"failed to load {req.url}: {req.failure}"))
    page.on("response", lambda resp: resp.status >= 400 and page.errors.append(
        f"HTTP {resp.status} for {resp.url}"))
    return page


def open_page(chromium, url: str, viewport: dict | None = None, timeout_s: float = 120):
    """:func:`new_page` at ``url``, returned once its ``load`` event has fired."""
    page = new_page(chromium, viewport)
    page.goto(url, wait_until="load", timeout=timeout_s * 1000)
    return page


def shot(page, png: Path, selector: str | None = None, full_page: bool = False) -> Path:
    """A PNG of the page's viewport (or whole page), or of one element (``selector``)."""
    png = Path(png)
    if selector:
        page.locator(selector).first.screenshot(path=str(png))
    else:
        page.screenshot(path=str(png), full_page=full_page)
    return png
