"""``python scripts/bench_serve.py --smallest``: the load and list benchmark runs end to end at its CI size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_bench_serve_smallest_holds_its_invariants():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_serve.py"), "--smallest"], cwd=REPO,
                          capture_output=True, text=True, timeout=900, env=os.environ | {"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])["serve"]
    assert figures["invariants_ok"] and figures["load"]["states"] == {"succeeded": 2}
    assert figures["list_full"]["table"] == 50 and figures["list_full"]["p99_ms"] > 0
    assert "p99 ratio" in done.stdout
