"""The scrape pipeline: search pages → safe downloads (thread pool) → store writer.

Threads download and normalise; only the main thread talks to the :class:`StoreWriter` (one
writer, no locking). Each query pages through results until it has ``per_query`` images in the
store (counting images kept by earlier runs, so a re-run resumes rather than tops up) or results
run out. URLs the store has already tried are skipped; every definitive outcome is remembered
with ``mark_source`` and the batch is flushed after each page and every few seconds, so a
SIGKILL loses at most the last few seconds of work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from autolit.scrape.phash import DEFAULT_THRESHOLD, NearDupIndex, dhash_bytes
from autolit.scrape.progress import ScrapeProgress
from autolit.scrape.queries import QuerySpec
from autolit.scrape.report import QueryStats, ScrapeReport
from autolit.net.safe_http import SafeFetcher
from autolit.scrape.scrub import scrub_url
from autolit.scrape.serp import ImageResult, SerpApiImages
from autolit.scrape.worker import Outcome, work
from autolit.store.envs import is_store
from autolit.store.policy import ImagePolicy
from autolit.store.reader import StoreReader
from autolit.store.splits import SplitPolicy
from autolit.store.writer import StoreWriter

FLUSH_SECONDS = 5.0  # commit the open batch at least this often, so a kill loses little


@dataclass(frozen=True)
class ScrapeOptions:
    """Knobs of one scrape run (the CLI's flags)."""

    per_query: int
    chips: str | None = None
    workers: int = 16
    thumbnails: bool = False
    near_dup: bool = False
    near_dup_threshold: int = DEFAULT_THRESHOLD
    max_side: int | None = None   # None: the store's policy (256 for a new store)
    progress: bool = True
    split: SplitPolicy | None = None  # a new store's split policy (None: the default)


@dataclass
class _Known:
    """What the store held before this run (and what this run added since)."""

    per_query: dict[str, int] = field(default_factory=dict)
    near: NearDupIndex = field(default_factory=NearDupIndex)


def collect(queries: Sequence[QuerySpec], store: str | Path, search: SerpApiImages,
            fetcher: SafeFetcher, options: ScrapeOptions) -> ScrapeReport:
    """Run the scrape and return its report. The store is created when absent."""
    started = time.monotonic()
    known = _prescan(Path(store), options)
    policy = ImagePolicy(max_side=options.max_side) if options.max_side else None
    split = options.split if not is_store(Path(store)) else None
    report = ScrapeReport([QueryStats(q.query, q.label) for q in queries], str(store))
    with StoreWriter(store, task="classification", policy=policy, split=split) as writer, \
            ThreadPoolExecutor(max(1, options.workers), thread_name_prefix="scrape") as pool, \
            ScrapeProgress(options.progress, options.per_query) as progress:
        run = _Run(writer, pool, fetcher, options, known, progress)
        try:
            for spec, stats in zip(queries, report.queries):
                run.query(spec, stats, search)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # running downloads are time-bounded
            report.search_requests = search.requests_made
            report.seconds = time.monotonic() - started
    return report


def _prescan(store: Path, options: ScrapeOptions) -> _Known:
    """Per-query counts and (for --near-dup) dHashes of the stored images."""
    known = _Known(near=NearDupIndex(options.near_dup_threshold))
    if not is_store(store):
        return known
    reader = StoreReader(store)
    try:
        for key in reader.keys():
            record = reader.record(key)
            prov = record.get("provenance")
            prov = prov if isinstance(prov, dict) else {}  # a tampered record only loses its query count
            query = prov.get("query")
            if isinstance(query, str):
                known.per_query[query] = known.per_query.get(query, 0) + 1
            if options.near_dup:
                stored = _stored_dhash(prov.get("dhash"))
                known.near.add(stored if stored is not None else dhash_bytes(reader.read(key)[0]))
    finally:
        reader.close()
    return known


def _stored_dhash(value: object) -> int | None:
    """The dHash a record's provenance holds, or None when it is absent or not 16 hex digits."""
    try:
        return int(value, 16) if isinstance(value, str) and len(value) == 16 else None
    except ValueError:
        return None


class _Run:
    """State shared by the queries of one run."""

    def __init__(self, writer: StoreWriter, pool: ThreadPoolExecutor, fetcher: SafeFetcher,
                 options: ScrapeOptions, known: _Known, progress: ScrapeProgress) -> None:
        self.writer, self.pool, self.fetcher = writer, pool, fetcher
        self.options, self.known, self.progress = options, known, progress
        self.last_flush = time.monotonic()

    def query(self, spec: QuerySpec, stats: QueryStats, search: SerpApiImages) -> None:
        """Page through one query's results until it has enough images or none are left."""
        stats.already_kept = self.known.per_query.get(spec.query, 0)
        need = self.options.per_query - stats.already_kept
        self.progress.start(spec.query, stats.already_kept)
        if need <= 0:
            stats.stopped = "enough"
            return
        stats.stopped = "no more results"
        for page in search.pages(spec.query, self.options.chips):
            stats.pages += 1
            stats.results += len(page)
            fresh = [r for r in page if not self._seen(r)]
            stats.skipped_seen += len(page) - len(fresh)
            self._download(fresh, spec, stats, need)
            self.writer.flush()
            self.last_flush = time.monotonic()
            if stats.kept >= need:
                stats.stopped = "enough"
                return
        if stats.pages >= search.config.max_pages:
            stats.stopped = "max pages"

    def _seen(self, result: ImageResult) -> bool:
        url = result.original or (result.thumbnail if self.options.thumbnails else None)
        return url is not None and self.writer.seen_source(scrub_url(url))

    def _download(self, results: list[ImageResult], spec: QuerySpec, stats: QueryStats,
                  need: int) -> None:
        """Download ``results`` with a bounded number in flight; stop once ``need`` are kept."""
        todo = list(reversed(results))
        inflight: set[Future[Outcome]] = set()
        while todo or inflight:
            # Enough in flight to keep every worker busy, not so many that we overshoot ``need``.
            cap = min(2 * max(1, self.options.workers), 2 * (need - stats.kept))
            while todo and len(inflight) < cap:
                inflight.add(self.pool.submit(
                    work, todo.pop(), self.fetcher, self.writer.policy,
                    thumbnails=self.options.thumbnails))
            if not inflight:
                return
            done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
            for future in done:
                if stats.kept < need:  # surplus results are not stored nor marked: a later run may use them
                    self._record(future.result(), spec, stats)
            self._maybe_flush()

    def _record(self, outcome: Outcome, spec: QuerySpec, stats: QueryStats) -> None:
        """Turn one outcome into counters, a store write and ``mark_source`` calls."""
        stats.downloaded += outcome.downloaded
        if not outcome.ok:
            stats.rejected[outcome.reason] += 1
            if not outcome.transient:
                for url in outcome.tried:
                    self.writer.mark_source(url, f"rejected:{outcome.reason}")
            self.progress.update(spec.query, stats)
            return
        image = outcome.image
        assert image is not None and outcome.url is not None
        if self.writer.has_image(image.sha256):
            stats.duplicates += 1
            self._mark(outcome, f"duplicate:{image.sha256}")
        elif self.options.near_dup and outcome.dhash is not None \
                and self.known.near.is_near_duplicate(outcome.dhash):
            stats.near_duplicates += 1
            self._mark(outcome, "near_duplicate")
        else:
            self._add(outcome, spec, stats)
        self.progress.update(spec.query, stats)

    def _add(self, outcome: Outcome, spec: QuerySpec, stats: QueryStats) -> None:
        image = outcome.image
        assert image is not None and outcome.url is not None
        result = self.writer.add_normalized(image, label=spec.label, source=outcome.url,
                                            provenance=_provenance(outcome, spec))
        if result.status == "added":
            stats.kept += 1
            stats.thumbnails += int(outcome.thumbnail)
            if outcome.dhash is not None:
                self.known.near.add(outcome.dhash)
            self._mark(outcome, f"added:{image.sha256}", skip=outcome.url)
        elif result.status == "duplicate":
            stats.duplicates += 1
            self._mark(outcome, f"duplicate:{image.sha256}")
        else:
            stats.rejected[result.reason or "rejected"] += 1
            self._mark(outcome, f"rejected:{result.reason}")

    def _mark(self, outcome: Outcome, what: str, skip: str | None = None) -> None:
        """Remember every URL tried for this result (the original too when a thumbnail won)."""
        for url in outcome.tried:
            if url != skip:
                self.writer.mark_source(url, what)

    def _maybe_flush(self) -> None:
        if time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.writer.flush()
            self.last_flush = time.monotonic()


def _provenance(outcome: Outcome, spec: QuerySpec) -> dict:
    """Where a record came from; every URL scrubbed, JSON-serialisable."""
    result, image = outcome.result, outcome.image
    assert image is not None
    page = scrub_url(result.link) if result.link else None
    return {
        "query": spec.query, "label": spec.label,
        "url": outcome.url, "original_url": outcome.tried[0] if outcome.tried else None,
        "final_url": outcome.final_url, "page": page,
        "domain": _hostname(page) or _hostname(outcome.url),
        "source": result.source, "title": result.title, "position": result.position,
        "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sha256": image.sha256, "thumbnail": outcome.thumbnail,
        "dhash": f"{outcome.dhash:016x}" if outcome.dhash is not None else None,
    }


def _hostname(url: str | None) -> str | None:
    """The host of ``url``; None when absent or unparsable (a result's ``link`` is untrusted text)."""
    try:
        return urlsplit(url).hostname if url else None
    except ValueError:  # e.g. "http://[oops/": an unclosed IPv6 bracket
        return None
