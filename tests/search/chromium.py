"""Open a report page in headless Chromium with the network off; say what rendered and what failed.

A copy of the page gets a tiny error collector as its first script (JavaScript errors, failed
script loads, unhandled promise rejections, ``console.error``); at the ``load`` event it writes a
JSON verdict into the DOM (each ``div.plot``: does it hold an SVG or a canvas; the page's own
``data-rendered`` / ``data-render-ms``), and ``chromium --dump-dom`` hands the DOM back. The
network is off twice over: a fresh network namespace when ``unshare -n`` is allowed (root), and
in any case a resolver that resolves nothing and a dead proxy.

Used by tests/search/test_report_browser.py and scripts/bench_report.py.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9", "--hide-scrollbars"]

COLLECTOR = """<script>window.__errors=[];
window.addEventListener('error',function(e){var t=e.target;__errors.push(t&&t!==window&&(t.src||t.href)?
 'failed to load '+(t.src||t.href):String(e.message)+' @'+(e.filename||'')+':'+(e.lineno||''));},true);
window.addEventListener('unhandledrejection',function(e){__errors.push('unhandled rejection: '+e.reason);});
var __ce=console.error;console.error=function(){__errors.push('console.error: '+[].join.call(arguments,' '));};
window.addEventListener('load',function(){var plots=[].map.call(document.querySelectorAll('div.plot'),
 function(d){return {id:d.id,svg:!!d.querySelector('svg'),canvas:!!d.querySelector('canvas')};});
 var out=document.createElement('pre');out.id='__verdict';out.textContent=JSON.stringify({errors:__errors,
 plots:plots,rendered:document.body.dataset.rendered||null,render_ms:Number(document.body.dataset.renderMs||-1),
 load_ms:performance.now()});document.body.appendChild(out);});</script>"""


@lru_cache(maxsize=1)
def chromium() -> str | None:
    """Path of Debian's ``chromium`` (or another Chromium/Chrome), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@lru_cache(maxsize=1)
def _offline_prefix() -> list[str]:
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return ["unshare", "-n"] if ok else []


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="autolit-chromium-") as profile:
        return subprocess.run([*_offline_prefix(), chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def render(index: Path, timeout: float = 120) -> dict:
    """Load ``index`` (with the collector), return the verdict plus ``wall_s`` of the browser run."""
    index = Path(index).resolve()
    probe = index.with_name("__probe_" + index.name)  # beside it: relative assets resolve the same
    probe.write_text(index.read_text(encoding="utf-8").replace("<head>", "<head>" + COLLECTOR, 1), encoding="utf-8")
    try:
        start = time.perf_counter()
        proc = _run(["--dump-dom", probe.as_uri()], timeout)
        wall = time.perf_counter() - start
    finally:
        probe.unlink()
    match = re.search(r'<pre id="__verdict">(.*?)</pre>', proc.stdout, re.S)
    if match is None:
        raise RuntimeError(f"chromium gave no verdict (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return {**json.loads(html.unescape(match.group(1))), "wall_s": wall}


def blank_wall_s(folder: Path, timeout: float = 60) -> float:
    """Seconds the same browser run takes on an empty page (its start-up cost, to subtract)."""
    page = Path(folder) / "__blank.html"
    page.write_text("<!doctype html><html><head></head><body></body></html>")
    try:
        start = time.perf_counter()
        _run(["--dump-dom", page.resolve().as_uri()], timeout)
        return time.perf_counter() - start
    finally:
        page.unlink()


def screenshot(index: Path, png: Path, width: int = 1400, height: int = 4200, timeout: float = 120) -> Path:
    """A PNG of the page as a ``width`` x ``height`` window shows it."""
    _run([f"--window-size={width},{height}", f"--screenshot={Path(png).resolve()}", Path(index).resolve().as_uri()],
         timeout)
    return Path(png)
