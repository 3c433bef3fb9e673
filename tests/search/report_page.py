"""A search report page in headless Chromium (tests/browser.py: Playwright, network off): what
rendered, what failed, how big its pictures are shown.

:func:`render` opens ``index.html``, waits for the page's own ``data-rendered`` (or its first
error) and returns a verdict: the errors the page logged, each ``div.plot`` (does it hold an SVG
or a canvas), each ``img.picture`` (its native size against the box the page gives it), the
page's ``data-rendered`` / ``data-render-ms``, the ``load`` time and the browser's wall time.

Used by tests/search/test_report.py, tests/search/test_digits_report.py and scripts/bench_report.py.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.browser import CHROMIUM, available, browser, open_page, shot

VERDICT = """() => ({
  plots: [...document.querySelectorAll('div.plot')].map(d => ({id: d.id, svg: !!d.querySelector('svg'),
                                                               canvas: !!d.querySelector('canvas')})),
  pictures: [...document.querySelectorAll('img.picture')].map(i => ({alt: i.alt, complete: i.complete,
    natural_width: i.naturalWidth, natural_height: i.naturalHeight,
    shown_width: i.getBoundingClientRect().width, shown_height: i.getBoundingClientRect().height})),
  rendered: document.body.dataset.rendered || null,
  render_ms: Number(document.body.dataset.renderMs || -1),
  load_ms: performance.getEntriesByType('navigation')[0].loadEventStart,
})"""


def chromium() -> str | None:
    """The Chromium the tests drive (``/usr/bin/chromium``), or None when no browser test can run."""
    return CHROMIUM if available() is None else None


def _verdict(page, timeout: float) -> dict:
    deadline = time.perf_counter() + timeout
    # Plotly draws after `load`; a page whose script failed never sets data-rendered: stop at its error
    while not page.errors and time.perf_counter() < deadline:
        if page.evaluate("() => document.body.dataset.rendered !== undefined"):
            break
        page.wait_for_timeout(50)
    return {**page.evaluate(VERDICT), "errors": list(page.errors)}


def render(index: Path, timeout: float = 120, viewport: dict | None = None) -> dict:
    """Load ``index``; return the verdict plus ``wall_s`` (browser start to verdict)."""
    start = time.perf_counter()
    with browser() as b:
        page = open_page(b, Path(index).resolve().as_uri(), viewport, timeout)
        verdict = _verdict(page, timeout)
    return {**verdict, "wall_s": time.perf_counter() - start}


def blank_wall_s(folder: Path, timeout: float = 60) -> float:
    """Seconds the same browser run takes on an empty page (its start-up cost, to subtract)."""
    page = Path(folder) / "__blank.html"
    page.write_text("<!doctype html><html><head></head><body data-rendered=0></body></html>")
    try:
        return render(page, timeout)["wall_s"]
    finally:
        page.unlink()


def screenshot(index: Path, png: Path, width: int = 1400, height: int = 4200, timeout: float = 120,
               selector: str | None = None) -> Path:
    """A PNG of the page as a ``width`` x ``height`` window shows it (or of one element of it)."""
    with browser() as b:
        page = open_page(b, Path(index).resolve().as_uri(), {"width": width, "height": height}, timeout)
        _verdict(page, timeout)
        return shot(page, png, selector)
