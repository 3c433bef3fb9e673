"""Per-query counters and the closing table of a scrape."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table


@dataclass
class QueryStats:
    """What happened to one query's results.

    ``results`` counts entries SerpApi returned; ``skipped_seen`` those whose URL the store had
    already tried (resume); ``downloaded`` successful HTTP bodies; ``kept`` records added;
    ``duplicates`` byte-identical (after normalisation) to a stored image; ``near_duplicates``
    within the dHash threshold of a kept image; ``rejected`` refusals and invalid images by reason.
    """

    query: str
    label: str
    results: int = 0
    skipped_seen: int = 0
    downloaded: int = 0
    kept: int = 0
    already_kept: int = 0  # records of this query stored by earlier runs
    duplicates: int = 0
    near_duplicates: int = 0
    thumbnails: int = 0
    pages: int = 0
    rejected: Counter = field(default_factory=Counter)
    stopped: str = ""  # why the query ended: "enough", "no more results", "max pages"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (``rejected`` as a plain dict sorted by reason)."""
        out = dict(self.__dict__)
        out["rejected"] = dict(sorted(self.rejected.items()))
        return out


@dataclass
class ScrapeReport:
    """All queries of one run, plus run-wide figures."""

    queries: list[QueryStats]
    store: str
    seconds: float = 0.0
    search_requests: int = 0

    @property
    def kept(self) -> int:
        """Records added by this run."""
        return sum(q.kept for q in self.queries)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``--json`` prints)."""
        return {"store": self.store, "seconds": round(self.seconds, 3), "kept": self.kept,
                "search_requests": self.search_requests,
                "queries": [q.to_dict() for q in self.queries]}

    def table(self) -> Table:
        """A rich table, one row per query."""
        table = Table(title=f"scrape → {self.store} ({self.seconds:.1f} s)")
        text_columns = ("query", "label", "rejected by reason", "ended")
        for name in ("query", "label", "results", "seen before", "downloaded", "kept",
                     "duplicates", "near-dups", "rejected by reason", "ended"):
            table.add_column(name, justify="left" if name in text_columns else "right")
        for q in self.queries:
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(q.rejected.items())) or "-"
            table.add_row(q.query, q.label, str(q.results), str(q.skipped_seen),
                          str(q.downloaded), str(q.kept), str(q.duplicates),
                          str(q.near_duplicates), reasons, q.stopped)
        return table
