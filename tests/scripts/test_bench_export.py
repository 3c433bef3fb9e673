"""``python scripts/bench_export.py --smallest``: baseline and new export both run, are measured and agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINE_REV = "205094ee37143784485b1fd9b6400b977c7ce355"  # scripts/bench_export.py's default --baseline-rev


def baseline_missing() -> str | None:
    """Why the baseline (the old export, read from git history) cannot run here, or None."""
    found = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{BASELINE_REV}^{{commit}}"],
                           capture_output=True, check=False)
    return None if found.returncode == 0 else (f"commit {BASELINE_REV[:7]} (the baseline export) is not in this "
                                               "checkout (a shallow clone or no git); git fetch --unshallow")


pytestmark = [pytest.mark.slow, pytest.mark.skipif(baseline_missing() is not None, reason=str(baseline_missing()))]


def test_bench_export_smallest_measures_both_and_keeps_parity():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_export.py"), "--smallest"], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=900, env=os.environ | {"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])["export"]
    for side in ("baseline", "new"):  # each a real child process, timed by its own rusage
        assert figures[side]["wall_s"] > 0 and figures[side]["user_s"] > 0 and figures[side]["max_rss_mb"] > 50
        assert figures[side]["cpu_s"] == pytest.approx(figures[side]["user_s"] + figures[side]["sys_s"], abs=2e-3)
    assert figures["speedup"]["wall_s"] == pytest.approx(figures["baseline"]["wall_s"] / figures["new"]["wall_s"],
                                                         rel=1e-2)
    parity = figures["parity"]
    assert parity["baseline_checks_ok"] and parity["new_checks_ok"]
    assert parity["scores_equal_baseline"] and parity["files_score_as_checkpoint"]
    # the baseline really is the old code (it checked a 64-image sample), the new checks cover the whole split
    assert parity["checked_images"] == {"baseline": 64, "new": parity["test_n"]} and parity["test_n"] > 64
    assert set(parity["max_abs_diff"]) == {"model.pt", "model.onnx", "model.int8.pt", "model.int8.onnx"}
    assert parity["max_abs_diff"]["model.onnx"] <= 1e-4 and parity["checkpoint_score"]["acc"] > 0.5
    assert "baseline/new" in done.stdout
