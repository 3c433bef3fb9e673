"""Fold the parts of ``scripts/gpu_check.sh`` into one ``gpu-check.json`` and print the figures.

    python scripts/gpu_check_summary.py DEST --mode gpu|cpu --seconds N [--work DIR]

Reads what the parts left in DEST (bench_fit.json, bench_search.json, bench_fit_variants.json,
gpu-tests.xml) and in the work folder (env.json, parts.tsv). Exit 0 when every part ran (rc 0) and
no test failed; the targets are reported, not enforced (a dry run's small sizes are not measurements).
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def load(path: Path) -> dict:
    try:
        return json.loads(path.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return {}


def tests(path: Path) -> dict[str, str]:
    """``{test name: passed | skipped | failed: message}`` from pytest's JUnit XML."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    out = {}
    for case in root.iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = f"failed: {(child.get('message') or '')[:300]}"
            elif child.tag == "skipped" and not outcome.startswith("failed"):
                outcome = "skipped"
        out[case.get("name", "?")] = outcome
    return out


def parts(path: Path) -> dict[str, dict]:
    out = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        name, rc, seconds = line.split("\t")
        out[name] = {"rc": rc, "seconds": int(seconds)}
    return out


def targets(fit: dict, packing: dict, mode: str) -> dict[str, dict]:
    recipe = fit.get("recipe", {})
    checks = {"recipe_test_acc_min >= 0.99": recipe.get("recipe_test_acc_min")}
    if mode == "gpu":
        checks |= {"autolit_vs_handwritten <= 1.0": fit.get("autolit_vs_handwritten"),
                   "recipe_train_s <= 1.0 (H200)": recipe.get("recipe_train_s"),
                   "k4_vs_k1 >= 3": packing.get("k4_vs_k1")}
    else:
        checks |= {"autolit_vs_handwritten <= 1.10": fit.get("autolit_vs_handwritten"),
                   "recipe_vs_keras <= 0.5": recipe.get("recipe_vs_keras")}
    out = {}
    for name, value in checks.items():
        bound = float(name.split()[2])
        met = None if value is None else (value >= bound if ">=" in name else value <= bound)
        out[name] = {"value": value, "met": met}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--work", type=Path, help="where env.json and parts.tsv are (default: DEST)")
    parser.add_argument("--mode", default="gpu")
    parser.add_argument("--seconds", type=int, default=0)
    args = parser.parse_args()
    work = args.work or args.dest
    fit, packing = load(args.dest / "bench_fit.json"), load(args.dest / "bench_search.json").get("packing", {})
    variants = load(args.dest / "bench_fit_variants.json").get("variants") or fit.get("variants", [])
    summary = {"mode": args.mode, "seconds": args.seconds, "env": load(work / "env.json"),
               "parts": parts(work / "parts.tsv"), "tests": tests(args.dest / "gpu-tests.xml"),
               "fit": fit, "packing": packing, "variants": variants}
    summary["targets"] = targets(fit, packing, args.mode)
    failed = [t for t, o in summary["tests"].items() if o.startswith("failed")]
    bad = [p for p, r in summary["parts"].items() if r["rc"] != "0"]
    summary["ok"] = not failed and not bad and bool(summary["parts"])
    (args.dest / "gpu-check.json").write_text(json.dumps(summary, indent=1) + "\n")

    print(f"mode {args.mode}, {args.seconds} s; parts: "
          + ", ".join(f"{p} rc={r['rc']} {r['seconds']}s" for p, r in summary["parts"].items()))
    for name, outcome in summary["tests"].items():
        print(f"  test {name}: {outcome}")
    for row in packing.get("rows", []):
        print(f"  packing {row.get('run')}: {row.get('trials_per_hour', row.get('error'))} trials/h, "
              f"{row.get('gpu_mem_per_worker_mb')} MiB/worker, util {row.get('gpu_util_mean_pct')}%")
    for row in variants:
        print(f"  variant {row['variant']}: " + (row["error"] if "error" in row else
              f"{row['train_s']} s, test acc {row['test_acc']}, epochs {row['epoch_s']}"))
    for name, target in summary["targets"].items():
        print(f"  target {name}: {target['value']} ({'met' if target['met'] else 'not met' if target['met'] is False else 'n/a'})")
    print(f"{'ok' if summary['ok'] else 'NOT ok'}: {args.dest / 'gpu-check.json'}"
          + (f"; failed tests {failed}" if failed else "") + (f"; parts {bad}" if bad else ""))
    print(json.dumps({k: summary[k] for k in ("mode", "ok", "seconds", "targets")}))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
