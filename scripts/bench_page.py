"""The page at ``/`` with many jobs: the jobs list and the comparison of many long runs in Chromium.

    python scripts/bench_page.py [--jobs 100] [--runs 50] [--points 10000] [--repeat 3]
    python scripts/bench_page.py --smallest          # what CI runs: 6 jobs, 3 runs of 200 points

A home is written as the service would have left it (``make_home``: the job table, each job's
folder and ``fit.yaml``, a TensorBoard event file of ``--points`` steps of ``val/acc`` and
``train/loss`` for ``--runs`` of them), a real ``python -m autolit.serve`` serves it, and headless
Chromium (tests/browser.py: network off) times, from navigation to the view being drawn:

* ``jobs``: ``#/jobs`` with every row of the first page (100) rendered, and with every headline filled;
* ``compare``: ``#/compare`` of ``--runs`` runs on one chart (downsampled on the server,
  ``/api/page/series``) with their config table; then 20 cursor moves over the chart (responsive?).

Baseline: the same views of a home with one job and one run of 100 points, in the same run.
The server reads each run's event file once (then its readers are cached, as for jobs it
watched while they trained, and what the page derives from an ended run is kept): ``server first
headlines`` / ``series`` are those first reads, timed on their own before the views. Targets:
jobs and compare < 2 s. Last line: JSON of the figures. Timings include the machine's other load.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET_MS = 2000.0
POINTS_BUDGET, MAX_PER_RUN = 30_000, 1000


def fit_config(i: int) -> dict:
    """A small fit config; the learning rate and width differ between jobs (compare's highlights)."""
    return {"trainer": {"max_epochs": 3, "accelerator": "cpu"},
            "model": {"task": "multiclass", "layers": [{"Flatten": {}}, {"Linear": {"out_features": 16 + i % 4 * 16}},
                                                       {"ReLU": {}}, {"Linear": {"out_features": "n_labels"}}]},
            "data": {"store": "stores/digits", "source": "digits", "batch_size": 32},
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": round(1e-3 * (1 + i % 7), 4)}}}


def per_run(runs: int) -> int:
    """The points per run the compare view asks for (compare.js: POINTS_BUDGET, MAX_PER_RUN)."""
    return max(10, min(MAX_PER_RUN, POINTS_BUDGET // runs))


def write_events(run: Path, points: int, seed: int) -> None:
    """A TensorBoard event file as Lightning's logger writes it: val/acc and train/loss per step."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    run.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(run))
    start = time.time() - points
    for step in range(points):
        acc = 1 - math.exp(-(step + 1) / (points / 5)) * (0.9 - 0.01 * (seed % 10)) + 0.01 * math.sin(step + seed)
        values = [summary_pb2.Summary.Value(tag="val/acc", simple_value=acc),
                  summary_pb2.Summary.Value(tag="train/loss", simple_value=2.3 * (1 - acc) + 0.01)]
        writer.add_event(event_pb2.Event(wall_time=start + step, step=step, summary=summary_pb2.Summary(value=values)))
    writer.close()


def make_home(home: Path, jobs: int, runs: int, points: int) -> list[int]:
    """A job table of ``jobs`` succeeded fits, the first ``runs`` of them with event files; their ids."""
    from autolit.serve.models import State
    from autolit.serve.table import JobTable

    table = JobTable(home / "jobs.sqlite")
    ids = []
    now = time.time()
    for i in range(jobs):
        folder = home / "jobs" / f"bench-{i:04d}"
        folder.mkdir(parents=True)
        (folder / "fit.yaml").write_text(yaml.safe_dump(fit_config(i), sort_keys=False))
        (folder / "job.log").write_text(f"== attempt 1: python -m autolit.fit --config fit.yaml\nrun {i}\n")
        if i < runs:
            write_events(folder / "runs" / "fit" / "version_0", points, i)
        job_id = table.insert("fit", f"run-{i}", folder)
        table.transition(job_id, State.running, when=[State.queued], started_at=now - 600 + i, attempt=1, slot="cpu")
        table.transition(job_id, State.succeeded, when=[State.running], ended_at=now - 300 + i, exit_code=0)
        ids.append(job_id)
    table.close()
    return ids


def timed_view(chromium, url: str, hash_: str, selector: str) -> tuple[float, object]:
    """Milliseconds from navigation to ``selector`` being on the page, and the page (its errors checked)."""
    from tests import browser

    page = browser.new_page(chromium)
    start = time.perf_counter()
    page.goto(f"{url}/{hash_}", wait_until="commit")
    page.wait_for_selector(selector, timeout=120_000)
    ms = (time.perf_counter() - start) * 1000
    return ms, page


def cursor_ms(page) -> float:
    """Mean milliseconds of one cursor move over the compare chart until the next frame is drawn."""
    box = page.locator("#compare-chart .u-over").bounding_box()
    start = time.perf_counter()
    for k in range(20):
        page.mouse.move(box["x"] + box["width"] * (k + 0.5) / 20, box["y"] + box["height"] / 2)
        page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")
    return (time.perf_counter() - start) * 1000 / 20


def measure(chromium, url: str, ids: list[int], runs: int, repeat: int) -> dict:
    """Median timings of the views on one server (``runs``: how many of ``ids`` have curves)."""
    shown = min(len(ids), 100)
    views = {
        "jobs": ("#/jobs", f"#view[data-ready=jobs] #jobs tbody tr:nth-child({shown})"),
        "jobs_headlines": ("#/jobs", "#view[data-ready=jobs] #jobs[data-heads=done]"),
        "compare": (f"#/compare?ids={','.join(map(str, ids[:runs]))}&tag=val/acc",
                    f"#view[data-ready=compare] #compare-chart[data-series='{runs}']"),
    }
    figures, errors = {}, []
    _, page = timed_view(chromium, url, "#/jobs", "#view[data-ready=jobs]")  # warm-up: Chromium's first page
    errors += page.errors
    page.context.close()
    for name, (hash_, selector) in views.items():
        times = []
        for _ in range(repeat):
            ms, page = timed_view(chromium, url, hash_, selector)
            times.append(ms)
            if name == "compare":
                figures["cursor_ms"] = round(cursor_ms(page), 2)
                figures["compare_points"] = int(page.get_attribute("#compare-chart", "data-points"))
            errors += page.errors
            page.context.close()
        figures[name] = round(statistics.median(times), 1)
    figures["errors"] = errors
    return figures


def serve(home: Path):
    from tests.serve.server import Server

    data = home.parent / "data"
    data.mkdir(exist_ok=True)
    return Server(home, data).start()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=100)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--points", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--smallest", action="store_true", help="CI size: 6 jobs, 3 runs of 200 points, 1 repeat")
    args = p.parse_args()
    if args.smallest:
        args.jobs, args.runs, args.points, args.repeat = 6, 3, 200, 1
    from tests import browser

    if browser.available():
        print(f"error: {browser.available()}", file=sys.stderr)
        return 2
    os.environ.setdefault("PYTHONPATH", str(REPO))
    tmp = Path(tempfile.mkdtemp(prefix="bench-page-"))
    start = time.perf_counter()
    ids = make_home(tmp / "big" / "home", args.jobs, args.runs, args.points)
    base_ids = make_home(tmp / "base" / "home", 1, 1, 100)
    print(f"wrote {args.jobs} jobs, {args.runs} runs of {args.points} points in {time.perf_counter() - start:.1f} s",
          flush=True)
    load = os.getloadavg()[0]
    servers = {"big": serve(tmp / "big" / "home"), "base": serve(tmp / "base" / "home")}
    try:
        cold = {}
        for key, server, job_ids, runs in (("big", servers["big"], ids, args.runs), ("base", servers["base"], base_ids, 1)):
            start = time.perf_counter()  # the server reads every run's event file once
            httpx.get(f"{server.url}/api/page/headlines", params={"ids": job_ids}, timeout=3600).raise_for_status()
            cold[f"{key}_headlines"] = round((time.perf_counter() - start) * 1000, 1)
            start = time.perf_counter()  # and downsamples each run once (the page asks the same size)
            httpx.get(f"{server.url}/api/page/series", timeout=3600, params={
                "ids": job_ids[:runs], "tag": "val/acc", "points_per_run": per_run(runs)}).raise_for_status()
            cold[f"{key}_series"] = round((time.perf_counter() - start) * 1000, 1)
        with browser.browser() as chromium:
            base = measure(chromium, servers["base"].url, base_ids, 1, args.repeat)
            big = measure(chromium, servers["big"].url, ids, args.runs, args.repeat)
    finally:
        for server in servers.values():
            server.stop()
    rows = [("jobs list (rows)", "jobs", f"{min(args.jobs, 100)} jobs"),
            ("jobs list (headlines)", "jobs_headlines", f"{min(args.jobs, 100)} jobs"),
            ("compare", "compare", f"{args.runs} runs x {args.points} pts"),
            ("compare cursor move", "cursor_ms", "per move")]
    print(f"\nload average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; median of {args.repeat}")
    print(f"{'view':24} {'size':22} {'ms':>9} {'baseline ms':>12} {'ratio':>7} {'target':>8}")
    ok = True
    for label, key, size in rows:
        ratio = big[key] / base[key] if base[key] else float("nan")
        target = f"< {TARGET_MS:.0f}" if key in ("jobs", "compare") else "-"
        ok &= key not in ("jobs", "compare") or big[key] < TARGET_MS
        print(f"{label:24} {size:22} {big[key]:9.1f} {base[key]:12.1f} {ratio:7.2f} {target:>8}")
    for what in ("headlines", "series"):
        big_ms, base_ms = cold[f"big_{what}"], cold[f"base_{what}"]
        print(f"{f'server first {what}':24} {f'{args.jobs} jobs, {args.runs} runs':22} {big_ms:9.1f} {base_ms:12.1f} "
              f"{big_ms / base_ms:7.2f} {'-':>8}")
    errors = big.pop("errors") + base.pop("errors")
    print(f"page errors: {errors or 'none'}; compare drew {big['compare_points']} points")
    print(json.dumps({"page": {"jobs": args.jobs, "runs": args.runs, "points": args.points, "repeat": args.repeat,
                               "load_start": round(load, 2), "big": big, "baseline": base, "cold_read_ms": cold,
                               "errors": errors, "targets_met": ok}}))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
