"""Benchmark of ``search report`` on a synthetic 1,000-trial study. Prints a table, then one JSON line.

    python scripts/bench_report.py                 # 1,000 trials in a journal file
    python scripts/bench_report.py --smallest      # CI: 30 trials, the same figures
    python scripts/bench_report.py --trials 3000 --postgres postgresql://autolit:autolit@127.0.0.1:5432/autolit_test

The study is made with Optuna directly (tests/search/synthetic_study.py): a repeat block (layer
count 1-3) with per-block widths, learning rate, batch size, head width, 4 epochs of intermediate
values, and complete / pruned / infeasible / failed / running trials over 4 worker slots. Measured:

1. ``python -m autolit.search report`` wall time (the command a user waits for; target < 30 s on
   2 cores), and the time inside ``write_report`` alone;
2. the size of ``index.html`` with its assets (``plotly.min.js``, pictures; target < 10 MB), and of
   ``trials.csv`` / ``trials.json`` beside it;
3. the page in headless Chromium, network off (tests/search/report_page.py, on Playwright): time from
   navigation to the ``load`` event, the page's own time to draw every plot, and the browser's wall time minus
   the same browser run on an empty page (its start-up, the baseline); target < 5 s. Every plot
   container must hold an SVG and the page must log no JavaScript error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.search: the synthetic study and the report page in Chromium

import optuna  # noqa: E402

from autolit.search.report import write_report  # noqa: E402
from autolit.search.storage import open_storage  # noqa: E402
from tests.search import report_page  # noqa: E402
from tests.search.synthetic_study import make_study  # noqa: E402

ASSETS = ("index.html", "plotly.min.js", "best_confusion_matrix.png", "best_samples.png")


def mb(paths: list[Path]) -> float:
    return round(sum(p.stat().st_size for p in paths if p.is_file()) / 2**20, 2)


def bench(storage: str, name: str, n: int, out: Path) -> dict:
    start = time.perf_counter()
    study = make_study(open_storage(storage), name, n)
    made = time.perf_counter() - start
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autolit.search", "report", "--storage", storage, "--study-name",
                           name, "--out", str(out / "cli")], capture_output=True, text=True, timeout=600)
    cli_s = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"report failed: {proc.stderr[-2000:]}")
    inner = write_report(study, out / "inner").seconds
    result = {"storage": "postgresql" if "://" in storage else "journal", "trials": n, "make_study_s": round(made, 1),
              "report_cli_s": round(cli_s, 2), "write_report_s": round(inner, 2),
              "page_mb": mb([out / "cli" / a for a in ASSETS]),
              "tables_mb": mb([out / "cli" / "trials.csv", out / "cli" / "trials.json"])}
    if report_page.chromium() is not None:
        verdict = report_page.render(out / "cli" / "index.html")
        blank = report_page.blank_wall_s(out / "cli")
        ok = not verdict["errors"] and all(p["svg"] or p["canvas"] for p in verdict["plots"])
        result.update(plots=len(verdict["plots"]), rendered_ok=ok, js_errors=len(verdict["errors"]),
                      load_s=round(verdict["load_ms"] / 1000, 2), draw_s=round(verdict["render_ms"] / 1000, 2),
                      browser_minus_blank_s=round(verdict["wall_s"] - blank, 2))
    if "://" in storage:
        optuna.delete_study(study_name=name, storage=study._storage)
    return result


def table(rows: list[dict]) -> str:
    targets = {"report_cli_s": 30.0, "page_mb": 10.0, "browser_minus_blank_s": 5.0}
    lines = [f"{'storage':<11} {'figure':<22} {'value':>8} {'target':>7} {'share of target':>16}"]
    for row in rows:
        for key in ("report_cli_s", "write_report_s", "page_mb", "tables_mb", "load_s", "draw_s",
                    "browser_minus_blank_s"):
            if key in row:
                target = targets.get(key)
                share = f"{row[key] / target:.2f}" if target else ""
                lines.append(f"{row['storage']:<11} {key:<22} {row[key]:>8} {target or '':>7} {share:>16}")
        if "plots" in row:
            lines.append(f"{row['storage']:<11} {'plots drawn / errors':<22} {row['plots']:>5} / {row['js_errors']}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--postgres", help="also time a study stored in PostgreSQL at this URL")
    p.add_argument("--smallest", action="store_true", help="the CI size: a 30-trial study")
    args = p.parse_args()
    if args.smallest:
        args.trials = 30
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows.append(bench(str(tmp / "journal.log"), "bench-report", args.trials, tmp / "journal"))
        if args.postgres:
            rows.append(bench(args.postgres, f"bench-report-{time.time_ns()}", args.trials, tmp / "pg"))
    print(f"search report on a synthetic {args.trials}-trial study\n" + table(rows))
    print(json.dumps({"trials": args.trials, "runs": rows}))


if __name__ == "__main__":
    main()
