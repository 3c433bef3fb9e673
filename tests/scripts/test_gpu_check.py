"""``bash scripts/gpu_check.sh --smallest`` (= ``--cpu``): every part of the GPU check on the CPU.

The dry run runs the GPU run's own command lines, each with ``--smallest`` (tiny sizes; the CPU where
there is no CUDA), so it exercises the script itself (argument handling, time limits, the parts'
command lines, the JSON they write, ``gpu_check_summary.py``) and the benchmarks' GPU mode up to the
point where they would need CUDA: the one GPU run it is prepared for does not fail on a typo or an
API change. Its figures are not measurements. The MNIST folder here is a synthetic IDX one: no
shared data needed. This is gpu_check.sh's (and gpu_check_summary.py's) smallest-mode test
(tests/scripts/test_smallest.py names it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.scripts.data import write_idx_folder

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def gpu_check(*args: str, out: Path, cwd: Path = REPO, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = os.environ | {"OUT": str(out), "PYTHONPATH": str(REPO)}
    return subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_smallest_dry_run_runs_every_part_and_writes_the_figures(tmp_path):
    mnist = write_idx_folder(tmp_path / "mnist")
    out = tmp_path / "out"
    proc = gpu_check("--smallest", str(mnist), out=out)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = json.loads((out / "gpu-check.json").read_text())
    assert summary["ok"] is True and summary["mode"] == "cpu"
    assert {name: part["rc"] for name, part in summary["parts"].items()} == {
        "setup": "0", "tests": "0", "fit": "0", "packing": "0", "variants": "0"}
    assert len(summary["tests"]) >= 5 and set(summary["tests"].values()) == {"skipped"}  # no CUDA here
    fit = summary["fit"]
    assert fit["device"] == "cpu" and fit["precision"] == "bf16-mixed"  # --gpu's settings (mnist_fast), on the CPU
    assert fit["autolit_vs_handwritten"] > 0 and fit["recipe"]["recipe_train_s"] > 0
    assert {r["loop"] for r in fit["recipe"]["rows"]} == {
        "autolit mnist_fast", "hand-written mnist_fast", "hand-written Keras CNN"}
    (variant,) = summary["variants"]  # --smallest: the first of the GPU run's --variants
    assert variant["variant"] == "recipe" and "error" not in variant and variant["train_s"] > 0
    (row,) = summary["packing"]["rows"]
    assert row["run"] == "k1" and row["trials"] == 1 and row["trials_per_hour"] > 0
    assert set(summary["targets"]) >= {"recipe_test_acc_min >= 0.99", "recipe_vs_keras <= 0.5"}
    log = (out / "gpu-check.log").read_text()
    assert "== packing" in log and "== variants" in log and "== summary ==" in log
    assert sorted(p.name for p in out.iterdir()) == [  # what comes back from the GPU machine: <= 8 files
        "bench_fit.json", "bench_fit_variants.json", "bench_search.json", "gpu-check.json", "gpu-check.log",
        "gpu-tests.xml"]


def test_missing_mnist_folder_and_bad_option_are_one_line_errors(tmp_path):
    missing = gpu_check("--cpu", str(tmp_path / "nowhere"), out=tmp_path / "out", timeout=60)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith(f"error: MNIST folder {tmp_path / 'nowhere'} not found")
    bad = gpu_check("--gpus", out=tmp_path / "out", timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown option --gpus")
