"""Build or extend an image store from Google Images results (SerpApi).

    SERPAPI_API_KEY=... python -m autolit.scrape --queries "husky,beagle" --per-query 200 \
        --store data/dogs [--chips C] [--max-side 256] [--workers 16] [--thumbnails] [--near-dup]

``--queries "dog=husky,dog=beagle"`` maps several queries to one label. Re-running the same
command resumes: URLs the store already tried are not downloaded again. The flags are the scrape
source's options (``autolit/scrape/source.py``, also usable as ``data.source: {scrape: ...}``).
See docs/scrape.md.
"""

from __future__ import annotations

import argparse
import json
import shutil

from rich.console import Console

from autolit.errors import run_cli
from autolit.scrape.source import IMPORTER, OPTIONS, query_specs, scrape
from autolit.store.importers import check_options
from autolit.store.importers.base import add_option_flags


def build_parser() -> argparse.ArgumentParser:
    """The command line: one flag per scrape option (kept in one place with docs/scrape.md)."""
    p = argparse.ArgumentParser(prog="python -m autolit.scrape", description=__doc__.split("\n")[0])
    p.add_argument("--store", required=True, help="store directory (created when absent)")
    add_option_flags(p, OPTIONS, show_defaults=True)
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, check, scrape, print the report."""
    args = build_parser().parse_args(argv)
    flags = {opt.name: opt.flag for opt in OPTIONS}
    options = check_options(IMPORTER, {o.name: getattr(args, o.name) for o in OPTIONS},
                            where=lambda name: flags.get(name, name))
    report = scrape(query_specs(options), args.store, options, progress=not args.no_progress)
    # Wide enough for the reasons column when output goes to a file or pipe (rich assumes 80).
    width = shutil.get_terminal_size((140, 24)).columns
    Console(stderr=args.json, width=width).print(report.table())
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True))
    return 0


if __name__ == "__main__":
    run_cli(main)
