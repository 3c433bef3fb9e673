"""Parse ``--queries`` / ``--queries-file`` into (query, label) pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autolit.errors import UserError


@dataclass(frozen=True)
class QuerySpec:
    """One search query and the label its images get."""

    query: str
    label: str


def parse_query(item: str, where: str) -> QuerySpec:
    """``husky`` → (husky, husky); ``dog=husky`` → query husky, label dog."""
    label, sep, query = item.partition("=")
    if not sep:
        label = query = item
    label, query = " ".join(label.split()), " ".join(query.split())
    if not query or not label:
        raise UserError(f"empty query or label in {where}: {item!r}; write 'query' or 'label=query'")
    return QuerySpec(query=query, label=label)


def parse_queries(queries: str | Sequence[str] | None = None, queries_file: str | Path | None = None,
                  where: str = "--queries") -> list[QuerySpec]:
    """Queries from a comma-separated string or a list, and/or a file (one per line, ``#`` comments).

    Raises:
        UserError: nothing given, an unreadable file, an empty item, or a query listed twice.
    """
    specs: list[QuerySpec] = []
    if queries:
        items = queries.split(",") if isinstance(queries, str) else list(queries)
        specs += [parse_query(q, where) for q in items if q.strip()]
    if queries_file:
        path = Path(queries_file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(f"cannot read --queries-file {path}: {exc.strerror}; check the path") from None
        for number, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if line:
                specs.append(parse_query(line, f"{path}:{number}"))
    if not specs:
        hint = "pass --queries 'husky,beagle' or --queries-file FILE" if where == "--queries" else \
            f"set {where}, e.g. [husky, beagle]"
        raise UserError(f"no queries: {hint}")
    seen: dict[str, QuerySpec] = {}
    for spec in specs:
        if spec.query in seen:
            raise UserError(f"query {spec.query!r} is listed twice; list each query once")
        seen[spec.query] = spec
    return specs
