"""Import reports (counts per outcome, skipped files with reasons) and the import's progress bar."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

# Outcomes an importer counts besides the image-policy reject reasons.
ADDED, DUPLICATE, ALREADY = "added", "duplicate", "already_imported"
MISSING, NO_LABEL, UNREADABLE = "missing", "no_label", "unreadable"
_LIST_LIMIT = 20


@dataclass
class ImportReport:
    """What an import did: counts per outcome and every skipped source with its reason."""

    store: str
    source: str
    counts: Counter = field(default_factory=Counter)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (source, reason, detail)
    seconds: float = 0.0
    count: int = 0            # records in the store after the import
    fingerprint: str = ""     # store fingerprint after the import

    @property
    def added(self) -> int:
        """Records added by this import."""
        return self.counts[ADDED]

    def note(self, outcome: str, source: str, detail: str = "") -> None:
        """Count one outcome; anything but added/already_imported is listed as skipped."""
        self.counts[outcome] += 1
        if outcome not in (ADDED, ALREADY):
            self.skipped.append((source, outcome, detail))

    def skipped_by_reason(self) -> dict[str, int]:
        """Counts of skipped sources per reason (already-imported sources included)."""
        return {k: v for k, v in sorted(self.counts.items()) if k != ADDED}

    def to_dict(self) -> dict:
        """JSON-friendly summary."""
        return {
            "store": self.store, "source": self.source, "added": self.added,
            "skipped": self.skipped_by_reason(), "count": self.count,
            "fingerprint": self.fingerprint, "seconds": round(self.seconds, 3),
            "skipped_files": [list(s) for s in self.skipped],
        }

    def table(self, list_limit: int = _LIST_LIMIT) -> str:
        """A one-table plain-text summary, then up to ``list_limit`` skipped files."""
        rows = [("added", str(self.added))]
        rows += [(f"skipped: {k}", str(v)) for k, v in self.skipped_by_reason().items()]
        rows += [("store records", str(self.count)), ("fingerprint", self.fingerprint[:16]),
                 ("seconds", f"{self.seconds:.1f}")]
        width = max(len(r[0]) for r in rows)
        lines = [f"import {self.source} -> {self.store}"]
        lines += [f"  {name:<{width}}  {value:>8}" for name, value in rows]
        if self.skipped:
            lines.append("skipped files:")
            for src, reason, detail in self.skipped[:list_limit]:
                lines.append(f"  {reason:<20} {src}" + (f"  ({detail})" if detail else ""))
            if len(self.skipped) > list_limit:
                lines.append(f"  ... and {len(self.skipped) - list_limit} more")
        return "\n".join(lines)


class Progress:
    """The import's progress bar: rich on stderr, as the scrape's bars are; drawn on a terminal only
    (a log file or pipe gets the report, not bar frames)."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self.enabled = enabled and total > 0 and console.is_terminal
        self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, disable=not self.enabled)
        self._task = self._bar.add_task(label, total=max(total, 0))
        self._bar.start()

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` items."""
        self._bar.advance(self._task, n)

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._bar.stop()
