"""Build or extend an image store from Google Images results (SerpApi).

    SERPAPI_API_KEY=... python -m autolit.scrape --queries "husky,beagle" --per-query 200 \
        --store data/dogs [--chips C] [--max-side 256] [--workers 16] [--thumbnails] [--near-dup]

``--queries "dog=husky,dog=beagle"`` maps several queries to one label. Re-running the same
command resumes: URLs the store already tried are not downloaded again. See docs/scrape.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

from rich.console import Console

from autolit.errors import UserError, run_cli
from autolit.scrape.collect import ScrapeOptions, collect
from autolit.net.netpolicy import NetPolicy
from autolit.scrape.phash import DEFAULT_THRESHOLD
from autolit.scrape.queries import parse_queries
from autolit.net.safe_http import FetchLimits, SafeFetcher
from autolit.scrape.scrub import install_log_filters
from autolit.scrape.serp import DEFAULT_SERPAPI_URL, SerpApiImages, SerpConfig

KEY_ENV = "SERPAPI_API_KEY"


def build_parser() -> argparse.ArgumentParser:
    """The command line (kept in one place so docs/scrape.md can mirror it)."""
    p = argparse.ArgumentParser(prog="python -m autolit.scrape", description=__doc__.split("\n")[0])
    p.add_argument("--queries", help="comma-separated queries; 'label=query' sets the label")
    p.add_argument("--queries-file", help="one query (or label=query) per line, # comments")
    p.add_argument("--per-query", type=int, required=True, help="images to keep per query")
    p.add_argument("--store", required=True, help="store directory (created when absent)")
    p.add_argument("--chips", help="SerpApi 'chips' filter passed through unchanged")
    p.add_argument("--max-side", type=int, help="long side of stored images (new store: 256)")
    p.add_argument("--workers", type=int, default=16, help="concurrent downloads")
    p.add_argument("--per-host", type=int, default=4, help="concurrent downloads per host")
    p.add_argument("--serpapi-url", default=DEFAULT_SERPAPI_URL, help="SerpApi endpoint")
    p.add_argument("--engine", choices=("google_images", "google"), default="google_images",
                   help="google_images, or google with tbm=isch")
    p.add_argument("--allow-hosts", default="",
                   help="comma-separated hosts allowed to resolve to private/loopback addresses")
    p.add_argument("--thumbnails", action="store_true", help="fall back to the result's thumbnail")
    p.add_argument("--near-dup", action="store_true", help="drop near-duplicates (dHash)")
    p.add_argument("--near-dup-threshold", type=int, default=DEFAULT_THRESHOLD,
                   help="max Hamming distance of 64-bit dHashes counted as near-duplicate")
    p.add_argument("--max-bytes", type=int, default=20_000_000, help="byte cap per download")
    p.add_argument("--download-deadline", type=float, default=60.0, help="seconds per download")
    p.add_argument("--connect-timeout", type=float, default=10.0)
    p.add_argument("--read-timeout", type=float, default=30.0)
    p.add_argument("--max-pages", type=int, default=20, help="result pages per query at most")
    p.add_argument("--retries", type=int, default=4, help="retries on SerpApi 429/5xx")
    p.add_argument("--retry-delay", type=float, default=2.0, help="first back-off in seconds")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _check_numbers(args: argparse.Namespace) -> None:
    """Positive counts and times; the message names the flag and the value."""
    for flag in ("per_query", "workers", "per_host", "max_bytes", "max_pages",
                 "download_deadline", "connect_timeout", "read_timeout"):
        value = getattr(args, flag)
        if value is None or value <= 0:
            raise UserError(f"--{flag.replace('_', '-')}={value} must be positive")
    if args.max_side is not None and args.max_side <= 0:
        raise UserError(f"--max-side={args.max_side} must be a positive number of pixels, e.g. 256")
    if not 0 <= args.near_dup_threshold <= 64:
        raise UserError(f"--near-dup-threshold={args.near_dup_threshold} must be in 0..64")
    if args.retries < 0 or args.retry_delay < 0:
        raise UserError("--retries and --retry-delay must be >= 0")


def main(argv: list[str] | None = None) -> int:
    """Parse, build the pieces, scrape, print the report."""
    args = build_parser().parse_args(argv)
    _check_numbers(args)
    queries = parse_queries(args.queries, args.queries_file)
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise UserError(f"{KEY_ENV} is not set: export {KEY_ENV}=<your key> "
                        "(get one at https://serpapi.com/manage-api-key)")
    install_log_filters([key])
    warn = Console(stderr=True)
    search = SerpApiImages(key, SerpConfig(
        base_url=args.serpapi_url, engine=args.engine, retries=args.retries,
        retry_delay=args.retry_delay, max_pages=args.max_pages),
        on_retry=lambda message: warn.print(f"warning: {message}", markup=False,
                                            highlight=False, soft_wrap=True))
    limits = FetchLimits(connect_timeout=args.connect_timeout, read_timeout=args.read_timeout,
                         deadline=args.download_deadline, max_bytes=args.max_bytes,
                         per_host=args.per_host)
    fetcher = SafeFetcher(NetPolicy(args.allow_hosts.split(",")), limits)
    options = ScrapeOptions(
        per_query=args.per_query, chips=args.chips, workers=args.workers,
        thumbnails=args.thumbnails, near_dup=args.near_dup,
        near_dup_threshold=args.near_dup_threshold, max_side=args.max_side,
        progress=not args.no_progress)
    report = collect(queries, args.store, search, fetcher, options)
    # Wide enough for the reasons column when output goes to a file or pipe (rich assumes 80).
    width = shutil.get_terminal_size((140, 24)).columns
    Console(stderr=args.json, width=width).print(report.table())
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True))
    return 0


if __name__ == "__main__":
    run_cli(main)
