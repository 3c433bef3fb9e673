"""``scripts/bench_page.py --smallest`` and ``scripts/page_screenshots.py --smallest`` run end to end
at their CI size in headless Chromium (tests/browser.py), with no page error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import browser

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(browser.available() is not None, reason=str(browser.available()))]


def run(script: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / script), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, check=False, env=os.environ | {"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(done.stdout.strip().splitlines()[-1])


def test_bench_page_smallest_times_every_view():
    done, figures = run("bench_page.py", "--smallest")
    page = figures["page"]
    assert page["errors"] == [] and page["jobs"] == 6 and page["runs"] == 3
    for view in ("jobs", "jobs_headlines", "compare", "cursor_ms"):
        assert page["big"][view] > 0 and page["baseline"][view] > 0, view
    assert page["big"]["compare_points"] == 3 * 200  # under the per-run budget: every point drawn
    assert "ratio" in done.stdout and "compare" in done.stdout


def test_page_screenshots_smallest_writes_each_view(tmp_path):
    _, figures = run("page_screenshots.py", "--smallest", "--out", str(tmp_path))
    files = figures["page_screenshots"]["files"]
    assert files == sorted(f"page_{v}.png" for v in ("jobs", "new", "search_form", "compare", "job", "phone"))
    assert all((tmp_path / f).read_bytes()[:4] == b"\x89PNG" for f in files)
