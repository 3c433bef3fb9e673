"""Scrape throughput from a local server: images kept per second vs workers and image size.

    python scripts/bench_scrape.py [--data ../shared/data/hymenoptera_data] [--workers 1,4,16]
                                   [--max-sides 256] [--repeat 1]
    python scripts/bench_scrape.py --smallest    # CI: 10 photos per query, 2 workers, 64 px

Starts the test suite's local SerpApi stand-in and image host (tests/net/servers.py)
on 127.0.0.1 in a child process (so the server does not compete for the scraper's GIL), serves every photo of hymenoptera_data/train (ants, bees) as search results, and
scrapes them into a fresh temporary store for each setting. The per-host bound is set to the
worker count so the workers, not politeness, are what is measured. Prints a table; the last
line is one JSON object with every row.

What it measures: search paging + HTTP download + full decode/EXIF/resize/PNG encode + dHash +
LMDB writes, end to end; not the Internet (latency there dominates and is hidden by --workers).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.net.servers, the test suite's local servers

from autolit.net.netpolicy import NetPolicy  # noqa: E402
from autolit.net.safe_http import FetchLimits, SafeFetcher  # noqa: E402
from autolit.scrape.collect import ScrapeOptions, collect  # noqa: E402
from autolit.scrape.queries import parse_queries  # noqa: E402
from autolit.scrape.serp import SerpApiImages, SerpConfig  # noqa: E402
from tests.net.servers import LocalServer, Route  # noqa: E402

KEY = "bench-key-not-secret"


def default_data() -> Path:
    env = os.environ.get("AUTOLIT_SHARED_DATA")
    base = Path(env) if env else ROOT.parent / "shared" / "data"
    return base / "hymenoptera_data"


def serve_photos(server: LocalServer, data: Path, per_label: int | None) -> dict[str, float]:
    """Register every train photo (the first ``per_label``) as a route and as search results (100 per page)."""
    total_bytes, count = 0, 0
    for label in ("ants", "bees"):
        results = []
        for i, path in enumerate(sorted((data / "train" / label).glob("*.jpg"))[:per_label]):
            body = path.read_bytes()
            server.routes[f"/img/{label}/{path.name}"] = Route(data=body)
            results.append({"position": i + 1, "original": server.url(f"/img/{label}/{path.name}"),
                            "link": f"https://example.org/{path.name}", "title": path.name})
            total_bytes += len(body)
            count += 1
        server.serp.pages[label] = [results[i:i + 100] for i in range(0, len(results), 100)]
    return {"photos": count, "mean_kb": round(total_bytes / max(count, 1) / 1024, 1)}


def _serve(data: Path, per_label: int | None, queue: multiprocessing.Queue) -> None:
    """Child process: run the servers (so they do not share the scraper's GIL) until killed."""
    with LocalServer(key=KEY) as server:
        served = serve_photos(server, data, per_label)
        queue.put((server.base, served))
        threading.Event().wait()


def one_run(base: str, workers: int, max_side: int) -> dict:
    """Scrape both queries into a new temporary store; return the row of the table."""
    with tempfile.TemporaryDirectory() as tmp:
        search = SerpApiImages(KEY, SerpConfig(base_url=base))
        fetcher = SafeFetcher(NetPolicy(["127.0.0.1"]), FetchLimits(per_host=workers))
        options = ScrapeOptions(per_query=10_000, workers=workers, max_side=max_side, progress=False)
        started = time.perf_counter()
        report = collect(parse_queries("ants,bees"), Path(tmp) / "store", search, fetcher, options)
        seconds = time.perf_counter() - started
        store_mb = sum(p.stat().st_size for p in (Path(tmp) / "store").rglob("*") if p.is_file()) / 1e6
    return {"workers": workers, "max_side": max_side, "kept": report.kept,
            "downloaded": sum(q.downloaded for q in report.queries), "seconds": round(seconds, 2),
            "images_per_s": round(report.kept / seconds, 1), "store_mb": round(store_mb, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--max-sides", default="256")
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting (best is kept)")
    parser.add_argument("--photos", type=int, help="serve only the first N photos per label (default: all)")
    parser.add_argument("--smallest", action="store_true", help="the CI size: --photos 10 --workers 2 --max-sides 64")
    args = parser.parse_args()
    if args.smallest:
        args.photos, args.workers, args.max_sides, args.repeat = 10, "2", "64", 1
    if not (args.data / "train" / "ants").is_dir():
        sys.exit(f"error: no hymenoptera photos at {args.data}; pass --data or set AUTOLIT_SHARED_DATA")
    rows = []
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_serve, args=(args.data, args.photos, queue), daemon=True)
    child.start()
    try:
        base, served = queue.get(timeout=60)
        for max_side in (int(s) for s in args.max_sides.split(",")):
            for workers in (int(w) for w in args.workers.split(",")):
                runs = [one_run(base, workers, max_side) for _ in range(args.repeat)]
                rows.append(min(runs, key=lambda r: r["seconds"]))
    finally:
        child.terminate()
        child.join()
    print(f"{served['photos']} photos served from 127.0.0.1, mean {served['mean_kb']} KB; "
          f"{os.cpu_count()} CPUs")
    print(f"{'workers':>7} {'max_side':>8} {'kept':>5} {'seconds':>8} {'images/s':>9} {'store MB':>8}")
    for r in rows:
        print(f"{r['workers']:>7} {r['max_side']:>8} {r['kept']:>5} {r['seconds']:>8} "
              f"{r['images_per_s']:>9} {r['store_mb']:>8}")
    print(json.dumps({"bench": "scrape", **served, "cpus": os.cpu_count(), "rows": rows}))


if __name__ == "__main__":
    main()
