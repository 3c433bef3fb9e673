"""The scrape source: image search results as an importer, for ``data.source`` and the scrape CLI.

    data:
      store: stores/insects
      source: {scrape: {queries: [ants, bees], per_query: 150, thumbnails: true}}

The scraper's options are keys beside ``queries`` (the same names as ``python -m autolit.scrape``'s
flags, with ``_``), each checked with an error naming it. When the store is missing, fit scrapes
every query; when it lacks the label of a listed query, fit scrapes just those queries; else
nothing (no search request). Scrapes resume as the CLI's do. The SerpApi key comes only from
``SERPAPI_API_KEY``: it is never an option, so it never reaches a config, hparams or a log.

Registered in the importer registry on import (``autolit.datamodules.sources`` imports this
module), so the store room never imports scrape.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from autolit.errors import UserError
from autolit.scrape.collect import ScrapeOptions, collect
from autolit.net.netpolicy import NetPolicy
from autolit.scrape.phash import DEFAULT_THRESHOLD
from autolit.scrape.queries import QuerySpec, parse_queries
from autolit.scrape.report import ScrapeReport
from autolit.net.safe_http import FetchLimits, SafeFetcher
from autolit.scrape.scrub import install_log_filters, scrub_url
from autolit.scrape.serp import DEFAULT_SERPAPI_URL, SerpApiImages, SerpConfig
from autolit.store.importers import Importer, Option, register
from autolit.store.policy import ImagePolicy
from autolit.store.splits import SplitPolicy

KEY_ENV = "SERPAPI_API_KEY"


def _no_credential(url: str) -> str | None:
    if scrub_url(url) != url:
        return f"the URL carries a credential parameter; remove it: the key is read only from {KEY_ENV}"
    return None


OPTIONS = (
    Option("queries", list, "queries (comma-separated on the CLI); 'label=query' sets the label"),
    Option("queries_file", str, "one query (or label=query) per line, # comments"),
    Option("per_query", int, "images to keep per query", required=True, low=1),
    Option("chips", str, "SerpApi 'chips' filter passed through unchanged"),
    Option("max_side", int, "long side of stored images (new store: 256)", low=1),
    Option("workers", int, "concurrent downloads", default=16, low=1, high=256),
    Option("per_host", int, "concurrent downloads per host", default=4, low=1, high=64),
    Option("serpapi_url", str, "SerpApi endpoint", default=DEFAULT_SERPAPI_URL, rule=_no_credential),
    Option("engine", str, "google_images, or google with tbm=isch", default="google_images",
           choices=("google_images", "google")),
    Option("allow_hosts", list, "hosts allowed to resolve to private/loopback addresses (comma-separated)",
           default=()),
    Option("thumbnails", bool, "fall back to the result's thumbnail", default=False),
    Option("near_dup", bool, "drop near-duplicates (dHash)", default=False),
    Option("near_dup_threshold", int, "max Hamming distance of 64-bit dHashes counted as near-duplicate",
           default=DEFAULT_THRESHOLD, low=0, high=64),
    Option("max_bytes", int, "byte cap per download", default=20_000_000, low=1),
    Option("download_deadline", float, "seconds per download", default=60.0, above=0),
    Option("connect_timeout", float, "seconds to connect", default=10.0, above=0),
    Option("read_timeout", float, "seconds per read", default=30.0, above=0),
    Option("max_pages", int, "result pages per query at most", default=20, low=1, high=1000),
    Option("retries", int, "retries on SerpApi 429/5xx", default=4, low=0, high=100),
    Option("retry_delay", float, "first back-off in seconds", default=2.0, low=0),
)
DEFAULTS = {opt.name: opt.default for opt in OPTIONS if opt.default is not None}


def api_key() -> str:
    """The SerpApi key from the environment (the only place it is read from)."""
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise UserError(f"{KEY_ENV} is not set: export {KEY_ENV}=<your key> "
                        "(get one at https://serpapi.com/manage-api-key)")
    return key


def query_specs(options: dict, where: str = "--queries") -> list[QuerySpec]:
    """The (query, label) pairs of checked options (``queries`` and/or ``queries_file``)."""
    return parse_queries(options.get("queries"), options.get("queries_file"), where=where)


def scrape(specs: Sequence[QuerySpec], store: str | Path, options: dict, *, progress: bool = True,
           split_policy: SplitPolicy | None = None) -> ScrapeReport:
    """Run one scrape into ``store`` with checked ``options`` (defaults filled in here)."""
    opts = {**DEFAULTS, **options}
    key = api_key()
    install_log_filters([key])
    warn = Console(stderr=True)
    search = SerpApiImages(key, SerpConfig(
        base_url=opts["serpapi_url"], engine=opts["engine"], retries=opts["retries"],
        retry_delay=opts["retry_delay"], max_pages=opts["max_pages"]),
        on_retry=lambda message: warn.print(f"warning: {message}", markup=False, highlight=False,
                                            soft_wrap=True))
    limits = FetchLimits(connect_timeout=opts["connect_timeout"], read_timeout=opts["read_timeout"],
                         deadline=opts["download_deadline"], max_bytes=opts["max_bytes"],
                         per_host=opts["per_host"])
    fetcher = SafeFetcher(NetPolicy(opts["allow_hosts"]), limits)
    scrape_options = ScrapeOptions(
        per_query=opts["per_query"], chips=opts.get("chips"), workers=opts["workers"],
        thumbnails=opts["thumbnails"], near_dup=opts["near_dup"],
        near_dup_threshold=opts["near_dup_threshold"], max_side=opts.get("max_side"),
        progress=progress, split=split_policy)
    return collect(specs, store, search, fetcher, scrape_options)


def _run(store: str | Path, *, progress: bool = False, policy: ImagePolicy | None = None,
         split_policy: SplitPolicy | None = None, **options: Any) -> ScrapeReport:
    """The registry's entry point (``data.source``): scrape, then show the report on stderr."""
    if policy is not None:
        options["max_side"] = policy.max_side
    report = scrape(query_specs(options), store, options, progress=progress, split_policy=split_policy)
    Console(stderr=True).print(report.table())
    return report


def _missing(labels: Sequence[str], arg: str | None, options: dict) -> dict | None:
    """The options restricted to queries whose label the store lacks (None: nothing to scrape)."""
    todo = [s for s in query_specs(options) if s.label not in labels]
    if not todo:
        return None
    rest = {k: v for k, v in options.items() if k not in ("queries", "queries_file")}
    return {**rest, "queries": [f"{s.label}={s.query}" for s in todo]}


def _check(options: dict, where: Any) -> None:
    """At least one query, each well-formed and listed once (checked before anything runs)."""
    query_specs(options, where("queries"))


IMPORTER = register(Importer(
    name="scrape", help="Google Images results through SerpApi (key from SERPAPI_API_KEY)", run=_run,
    options=OPTIONS, example="{scrape: {queries: [ants, bees], per_query: 150}}", missing=_missing,
    check=_check, cli=False,
))
