"""The job service under load: many jobs from many clients, and listing a big job table.

    python scripts/bench_serve.py [--jobs 200] [--clients 20] [--slots 2] [--table 1000] [--requests 300]
    python scripts/bench_serve.py --smallest          # what CI runs: 2 jobs, 2 clients, a 50-job table

*load*: a real ``python -m autolit.serve`` (``--slots``) gets ``--jobs`` fit jobs posted at once
by ``--clients`` concurrent clients (each a tiny real fit: the bundled digits, 1 epoch of 2
batches), and must end every one in a terminal state: none lost (the table lists every id the
clients got back), none run twice (one attempt and one ``running`` event each), the table agreeing
with the processes (no job left running, no process of any job's group alive). Reported: submit
latency p50/p99 and the jobs finished per minute.

*list*: ``GET /api/jobs`` (a page of 50, newest first) against a table of ``--table`` jobs, p50/p99
over ``--requests`` calls, with the same call on an empty table as the baseline (ratio = cost of the
table's size). The target is p99 < 100 ms for 1,000 jobs. Last line: JSON of the figures.
Timings include the machine's other load; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
ENDED = {"succeeded", "failed", "stopped", "interrupted"}


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--table", type=int, default=1000, help="jobs in the table the list is timed on")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--timeout", type=float, default=7200.0, help="seconds the load part may take")
    p.add_argument("--smallest", action="store_true", help="the CI size: 2 jobs, 2 clients, a 50-job table")
    args = p.parse_args()
    if args.smallest:
        args.jobs, args.clients, args.table, args.requests = 2, 2, 50, 30
    return args


class Served:
    """``python -m autolit.serve`` on a free loopback port, in its own session."""

    def __init__(self, home: Path, data_root: Path, slots: int) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.log = open(home.parent / f"server-{home.name}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autolit.serve", "--home", str(home), "--data-root", str(data_root),
             "--port", self.url.rsplit(":", 1)[1], "--slots", str(slots)],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        for _ in range(600):
            try:
                httpx.get(f"{self.url}/api/jobs", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"the server at {self.url} did not start")
        # A refused config returns once the server has imported the fit's checks (torch, Lightning):
        # nothing is timed while that import holds the interpreter.
        httpx.post(f"{self.url}/api/jobs", json={"kind": "fit", "name": "warm-up", "config": "trainer: {max_epoch: 1}"},
                   timeout=600)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, round(q * (len(values) - 1)))]


def cheap_fit(store: Path) -> str:
    config = yaml.safe_load((REPO / "configs" / "digits.yaml").read_text())
    config["trainer"].update(max_epochs=1, limit_train_batches=2, limit_val_batches=1, limit_test_batches=1,
                             num_sanity_val_steps=0, enable_progress_bar=False, enable_model_summary=False)
    config["data"].update(store=str(store), source=None, cache="none")
    config["lr_scheduler"]["init_args"]["T_max"] = 1
    return yaml.safe_dump(config)


def load(args: argparse.Namespace, tmp: Path, store: Path) -> dict:
    server = Served(tmp / "load", store.parent, args.slots)
    text = cheap_fit(store)
    latencies: list[float] = []

    def submit(i: int) -> int:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            start = time.perf_counter()
            answer = client.post("/api/jobs", json={"kind": "fit", "name": f"load-{i}", "config": text})
            latencies.append(time.perf_counter() - start)
            answer.raise_for_status()
            return answer.json()["id"]

    try:
        began = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            ids = list(pool.map(submit, range(args.jobs)))
        submitted = time.perf_counter() - began
        pids: set[int] = set()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            end = time.monotonic() + args.timeout
            while time.monotonic() < end:
                pids |= {j["pid"] for j in client.get("/api/jobs", params={"state": "running", "limit": 500}).json()
                         ["jobs"] if j["pid"]}
                jobs = client.get("/api/jobs", params={"limit": 500}).json()["jobs"]
                if len(jobs) == args.jobs and all(j["state"] in ENDED for j in jobs):
                    break
                time.sleep(1.0)
        elapsed = time.perf_counter() - began
    finally:
        server.close()
    db = sqlite3.connect(tmp / "load" / "jobs.sqlite")
    starts = dict(db.execute("SELECT job_id, COUNT(*) FROM events WHERE type = 'state' AND data LIKE "
                             "'%\"running\"%' GROUP BY job_id").fetchall())
    db.close()
    alive = [p for p in pids if _alive(p)]
    states = {s: sum(j["state"] == s for j in jobs) for s in {j["state"] for j in jobs}}
    return {"jobs": args.jobs, "clients": args.clients, "slots": args.slots, "states": states,
            "lost": len(set(ids) - {j["id"] for j in jobs}), "run_twice": sum(c > 1 for c in starts.values())
            + sum(j["attempt"] != 1 for j in jobs), "not_ended": sum(j["state"] not in ENDED for j in jobs),
            "processes_left": len(alive), "submit_s": round(submitted, 2),
            "submit_p50_ms": round(1000 * _pct(latencies, 0.5), 1), "submit_p99_ms": round(1000 * _pct(latencies, 0.99), 1),
            "wall_s": round(elapsed, 1), "jobs_per_min": round(60 * args.jobs / elapsed, 2)}


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def fill_table(home: Path, n: int) -> None:
    """``n`` ended jobs written through the server's own table (as a long-lived server holds them)."""
    sys.path.insert(0, str(REPO))
    from autolit.serve.models import State
    from autolit.serve.table import JobTable

    table = JobTable(home / "jobs.sqlite")
    for i in range(n):
        job_id = table.insert("fit", f"old-{i}", home / "jobs" / f"old-{i}")
        table.transition(job_id, State.running, when=[State.queued], started_at=time.time(), attempt=1, slot="cpu")
        table.transition(job_id, State.succeeded, when=[State.running], ended_at=time.time(), exit_code=0)
    table.close()


def list_latency(args: argparse.Namespace, tmp: Path, store: Path, n: int) -> dict:
    home = tmp / f"list-{n}"
    fill_table(home, n)
    server = Served(home, store.parent, 1)
    times = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(10):  # warm up
                client.get("/api/jobs")
            for _ in range(args.requests):
                start = time.perf_counter()
                answer = client.get("/api/jobs")
                times.append(time.perf_counter() - start)
                assert answer.json()["total"] == n
    finally:
        server.close()
    return {"table": n, "p50_ms": round(1000 * _pct(times, 0.5), 2), "p99_ms": round(1000 * _pct(times, 0.99), 2)}


def main() -> None:
    args = _parse()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        store = tmp / "data" / "digits"
        subprocess.run([sys.executable, "-m", "autolit.store", "import", "digits", "--store", str(store)],
                       check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        empty, full = list_latency(args, tmp, store, 0), list_latency(args, tmp, store, args.table)
        result = load(args, tmp, store)
    rows = [("GET /api/jobs, empty table (baseline)", f"{empty['p50_ms']:.2f}", f"{empty['p99_ms']:.2f}", "1.00"),
            (f"GET /api/jobs, {args.table} jobs", f"{full['p50_ms']:.2f}", f"{full['p99_ms']:.2f}",
             f"{full['p99_ms'] / max(empty['p99_ms'], 1e-9):.2f}")]
    print(f"{'list (page of 50, newest first)':<40} {'p50 ms':>8} {'p99 ms':>8} {'p99 ratio':>10}")
    for row in rows:
        print(f"{row[0]:<40} {row[1]:>8} {row[2]:>8} {row[3]:>10}")
    print(f"\nload: {result['jobs']} jobs by {result['clients']} clients, {result['slots']} slots: {result['states']}; "
          f"lost {result['lost']}, run twice {result['run_twice']}, not ended {result['not_ended']}, processes left "
          f"{result['processes_left']}; submit p50 {result['submit_p50_ms']} ms p99 {result['submit_p99_ms']} ms; "
          f"{result['jobs_per_min']} jobs/min ({result['wall_s']} s)")
    ok = not (result["lost"] or result["run_twice"] or result["not_ended"] or result["processes_left"])
    print(json.dumps({"serve": {"list_empty": empty, "list_full": full, "load": result, "invariants_ok": ok,
                                "list_p99_under_100ms": full["p99_ms"] < 100}}))
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
