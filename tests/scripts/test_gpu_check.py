"""``bash scripts/gpu_check.sh --cpu``: every part of the GPU check runs at small sizes on the CPU.

The dry run exercises the script itself (argument handling, time limits, the parts' command lines,
the JSON they write, the summary) so the one GPU run it is prepared for does not fail on a typo.
Its figures are not measurements. The MNIST folder here is a synthetic IDX one: no shared data needed.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def write_idx_folder(folder: Path, n_train: int = 2200, n_test: int = 500) -> Path:
    """MNIST-named IDX files of 28x28 images: each label draws a bar at its own height."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label: 2 * label + 6, 4:24] += 150
        (folder / f"{stem}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())
    return folder


def gpu_check(*args: str, out: Path, cwd: Path = REPO, timeout: int = 300) -> subprocess.CompletedProcess:
    env = os.environ | {"OUT": str(out), "PYTHONPATH": str(REPO)}
    return subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cpu_dry_run_runs_every_part_and_writes_the_figures(tmp_path):
    mnist = write_idx_folder(tmp_path / "mnist")
    out = tmp_path / "out"
    proc = gpu_check("--cpu", str(mnist), out=out)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = json.loads((out / "gpu-check.json").read_text())
    assert summary["ok"] is True and summary["mode"] == "cpu"
    assert {name: part["rc"] for name, part in summary["parts"].items()} == {
        "setup": "0", "tests": "0", "fit": "0", "packing": "0"}
    assert len(summary["tests"]) >= 5 and set(summary["tests"].values()) == {"skipped"}  # no CUDA here
    fit = summary["fit"]
    assert fit["autolit_vs_handwritten"] > 0 and fit["recipe"]["recipe_train_s"] > 0
    assert {r["loop"] for r in fit["recipe"]["rows"]} == {
        "autolit mnist_fast", "hand-written mnist_fast", "hand-written Keras CNN"}
    assert [v["variant"] for v in summary["variants"]] == ["contiguous"]
    (row,) = summary["packing"]["rows"]
    assert row["run"] == "k1" and row["trials"] == 1 and row["trials_per_hour"] > 0
    assert set(summary["targets"]) >= {"recipe_test_acc_min >= 0.99", "recipe_vs_keras <= 0.5"}
    log = (out / "gpu-check.log").read_text()
    assert "== packing" in log and "== summary ==" in log
    assert sorted(p.name for p in out.iterdir()) == [  # what comes back from the GPU machine: <= 8 files
        "bench_fit.json", "bench_search.json", "gpu-check.json", "gpu-check.log", "gpu-tests.xml"]


def test_missing_mnist_folder_and_bad_option_are_one_line_errors(tmp_path):
    missing = gpu_check("--cpu", str(tmp_path / "nowhere"), out=tmp_path / "out")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith(f"error: MNIST folder {tmp_path / 'nowhere'} not found")
    bad = gpu_check("--gpus", out=tmp_path / "out")
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown option --gpus")
