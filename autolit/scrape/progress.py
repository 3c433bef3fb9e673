"""Progress bars per query (rich, on stderr), or nothing when disabled."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from autolit.scrape.report import QueryStats


class ScrapeProgress:
    """One bar per query: images in the store for it out of ``per_query``."""

    def __init__(self, enabled: bool, per_query: int) -> None:
        self.per_query = per_query
        self._tasks: dict[str, TaskID] = {}
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=Console(stderr=True), disable=not enabled, transient=False,
        )

    def __enter__(self) -> ScrapeProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def start(self, query: str, already: int) -> None:
        """Add the bar of ``query``, starting at the images earlier runs kept."""
        self._tasks[query] = self._progress.add_task(
            query, total=self.per_query, completed=min(already, self.per_query), info="")

    def update(self, query: str, stats: QueryStats) -> None:
        """Show the query's counters after each handled result."""
        rejected = sum(stats.rejected.values())
        info = (f"dl {stats.downloaded} · dup {stats.duplicates + stats.near_duplicates} "
                f"· rejected {rejected}")
        self._progress.update(self._tasks[query], info=info,
                              completed=min(stats.already_kept + stats.kept, self.per_query))
