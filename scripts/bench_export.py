"""Export time of ``python -m autolit.export``: this tree against the code before the one-pass export.

    python scripts/bench_export.py CKPT [--quantize int8] [--rounds 1]     # a real checkpoint
    python scripts/bench_export.py --smallest      # what CI runs: a synthetic store, a model fit in seconds

The baseline is the export as it was at ``--baseline-rev`` (default: the last commit before
issue 17's change: per-model sample checks, then every file over the whole test split in one
256-image batch, OpenMP threads spinning), taken from git (``git archive``) into a temporary
folder and run as ``python -m autolit.export`` with that folder first on ``PYTHONPATH``; the new
way is the same command on this tree. Both export the same checkpoint with the same options and
score it on the same store, alternating in ``--rounds`` so neither gets a quieter machine. Each
run's wall time and its own user / system CPU time and peak RSS (``os.wait4``) are measured.

Parity: both exports must pass their checks, report the same checkpoint score on the same test
split, and the new one's files (and the int8 twins) must score as the baseline's did. Prints a
table with ratios (baseline / new: > 1 is faster) and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from autolit.errors import one_line

REPO = Path(__file__).resolve().parents[1]
BASELINE_REV = "205094ee37143784485b1fd9b6400b977c7ce355"  # main before the one-pass export (issue 17)
MEASURES = ("wall_s", "user_s", "sys_s", "cpu_s", "max_rss_mb")


def fail(message: str) -> None:
    """One ``error: …`` line naming what and the fix, exit status 2 (the project's rule for bad input)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def baseline_tree(rev: str, work: Path) -> Path:
    """``autolit/`` as it was at ``rev``, extracted into ``work/baseline`` (a folder for PYTHONPATH)."""
    archive = work / "baseline.tar"
    done = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), rev, "autolit"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        fail(f"--baseline-rev {rev}: git archive failed ({done.stderr.strip()[:200]}); fix: run in a "
                 "clone that holds that commit (git fetch --unshallow) or pass another --baseline-rev")
    tree = work / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def timed_export(code: Path, ckpt: Path, out: Path, options: list[str]) -> dict[str, Any]:
    """Run ``python -m autolit.export`` with ``code`` first on the path: its times and its metadata."""
    shutil.rmtree(out, ignore_errors=True)
    env = os.environ | {"PYTHONPATH": str(code)}
    env.pop("OMP_WAIT_POLICY", None)  # each version sets (or not) its own
    # -P: the working directory (this repository) is not put before PYTHONPATH, so ``code`` is imported
    command = [sys.executable, "-P", "-m", "autolit.export", str(ckpt), "--out", str(out), *options]
    log = out.with_suffix(".log")
    with log.open("w") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own CPU time and peak RSS
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen.wait
    if proc.returncode != 0:
        last = log.read_text().strip().splitlines()[-1:] or ["no output"]
        fail(f"export with {code} failed (exit {proc.returncode}): {one_line(last[0], 300)}; full log {log}")
    return {"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
            "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024,
            "metadata": json.loads((out / "metadata.json").read_text()), "report": log.read_text()}


def parity(baseline: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Do both exports pass and score alike? (the new checks cover the whole split, the old ones 64 images)"""
    old_meta, new_meta = baseline["metadata"], new["metadata"]
    old_test, new_test = old_meta["test_split"], new_meta["test_split"]
    files = [name for name in new_test if isinstance(new_test[name], dict)]
    int8 = (new_meta.get("quantization") or {}).get("models", {})
    old_int8 = (old_meta.get("quantization") or {}).get("models", {})
    return {
        "baseline_checks_ok": all(row["ok"] for row in old_meta["verification"]),
        "new_checks_ok": all(row["ok"] for row in new_meta["verification"]),
        "checked_images": {"baseline": old_meta["sample"]["size"], "new": new_meta["sample"]["size"]},
        "test_n": new_test.get("n"),
        "max_abs_diff": {row["file"]: row["max_abs_diff"] for row in new_meta["verification"]},
        "scores_equal_baseline": all(new_test[name] == old_test.get(name) for name in files)
        and all({k: v for k, v in row.items() if k.startswith("int8_")}
                == {k: v for k, v in old_int8.get(name, {}).items() if k.startswith("int8_")}
                for name, row in int8.items()),
        "files_score_as_checkpoint": all(new_test[name] == new_test["checkpoint"] for name in files),
        "checkpoint_score": new_test.get("checkpoint"),
    }


def smallest_checkpoint(work: Path) -> Path:
    """A synthetic 28x28 store (800 images: a test split above the baseline's 64-image sample) and a
    linear model fit on it for one epoch."""
    sys.path.insert(0, str(REPO / "scripts"))
    from fit_baselines import synthetic_store

    from autolit.training import run_fit

    config = {"seed_everything": 0,
              "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_model_summary": False,
                          "log_every_n_steps": 1},
              "model": {"task": "multiclass", "layers": [{"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}]},
              "data": {"store": str(synthetic_store(work / "store", 800)), "batch_size": 64},
              "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}}}
    result = run_fit(config, run_dir=work / "run", progress=False)
    assert result.best_checkpoint is not None
    return Path(result.best_checkpoint)


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in MEASURES}


def print_table(baseline: dict[str, float], new: dict[str, float]) -> None:
    print(f"\n{'measure':<12}{'baseline':>11}{'new':>11}{'baseline/new':>14}")
    for key in MEASURES:
        ratio = baseline[key] / new[key] if new[key] else float("inf")
        print(f"{key:<12}{baseline[key]:>11.2f}{new[key]:>11.2f}{ratio:>14.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", type=Path, help="a .ckpt written by autolit.fit")
    parser.add_argument("--smallest", action="store_true", help="CI size: synthetic store, a model fit in seconds")
    parser.add_argument("--quantize", choices=("int8",), help="also write and check the int8 twins (both ways)")
    parser.add_argument("--format", default="torchscript,onnx", help="formats to export (both ways)")
    parser.add_argument("--rounds", type=int, default=1, help="baseline / new pairs, alternating (medians)")
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="git commit of the baseline export")
    args = parser.parse_args()
    if (args.checkpoint is None) != args.smallest:
        fail("pass a checkpoint or --smallest (not both); e.g. python scripts/bench_export.py --smallest")
    work = Path(tempfile.mkdtemp(prefix="bench_export-"))
    if args.smallest:
        args.checkpoint, args.quantize = smallest_checkpoint(work), "int8"
    options = ["--format", args.format] + (["--quantize", args.quantize] if args.quantize else [])
    codes = {"baseline": baseline_tree(args.baseline_rev, work), "new": REPO}
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "new": []}
    for _ in range(args.rounds):
        for name, code in codes.items():
            runs[name].append(timed_export(code, args.checkpoint, work / f"export_{name}", options))
            print(f"{name}: {runs[name][-1]['wall_s']:.1f} s", flush=True)
    load_after = os.getloadavg()
    print(runs["new"][-1]["report"])
    figures = {name: summary(rows) for name, rows in runs.items()}
    print_table(figures["baseline"], figures["new"])
    checks = parity(runs["baseline"][-1], runs["new"][-1])
    print(f"parity: {checks}")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}; cpus {os.cpu_count()}; "
          f"checkpoint {args.checkpoint}; baseline {args.baseline_rev[:12]}; work dir {work}")
    print(json.dumps({"export": {
        "smallest": args.smallest, "checkpoint": str(args.checkpoint), "options": options, "rounds": args.rounds,
        "baseline_rev": args.baseline_rev, **figures,
        "speedup": {key: round(figures["baseline"][key] / figures["new"][key], 3)
                    for key in ("wall_s", "cpu_s") if figures["new"][key]},
        "parity": checks, "load_avg_before": load_before, "load_avg_after": load_after,
        "cpu_count": os.cpu_count()}}))


if __name__ == "__main__":
    main()
