"""Build, inspect and check image stores.

Usage::

    python -m autolit.store import digits --store data/digits.store [--variant digits|parity|rotation]
    python -m autolit.store import idx data/mnist --store data/mnist.store
    python -m autolit.store import folder data/hymenoptera_data/train --store data/ants.store [--split test]
    python -m autolit.store import csv data/angles.csv --store data/angles.store
    python -m autolit.store info data/mnist.store [--json]
    python -m autolit.store show data/mnist.store --out grid.png [--n 64] [--split val]
    python -m autolit.store verify data/mnist.store [--json]      # exit 1 when a record is bad
    python -m autolit.store extract data/digits.store --out my_digits [--split test] [--n 20]

``import`` has one subcommand per entry of the importer registry (``autolit/store/importers/``),
with that importer's options as flags (``--max-side N`` and ``--encode auto|PNG|JPEG`` only when
creating a store, ``--batch-size N``, ``--workers N``, ...), plus ``--no-progress`` and ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autolit.errors import run_cli
from autolit.store.importers import Importer, check_options, cli_importers, invoke
from autolit.store.importers.base import add_option_flags
from autolit.store.reader import StoreReader
from autolit.store.splits import SPLITS


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree: import <one subcommand per registered importer>, info, show, verify."""
    parser = argparse.ArgumentParser(prog="python -m autolit.store", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import images into a store")
    kinds = imp.add_subparsers(dest="kind", required=True)
    for importer in cli_importers():
        _add_importer(kinds.add_parser(importer.name, help=importer.help), importer)
    info = sub.add_parser("info", help="print what a store holds")
    info.add_argument("store")
    info.add_argument("--json", action="store_true", help="print the info as one JSON object")
    show = sub.add_parser("show", help="save a labelled grid of sample images")
    show.add_argument("store")
    show.add_argument("--out", required=True, help="image file to write, e.g. grid.png")
    show.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    show.add_argument("--split", choices=SPLITS, default=None)
    show.add_argument("--cell", type=int, default=96, help="cell size in pixels (default 96)")
    verify = sub.add_parser("verify", help="check every record's hash and decode; exit 1 if any is bad")
    verify.add_argument("store")
    verify.add_argument("--json", action="store_true", help="print the result as one JSON object")
    extract = sub.add_parser("extract", help="write images back out as files, OUT/<label>/<hash>.png")
    extract.add_argument("store")
    extract.add_argument("--out", required=True, help="folder to write (an image-folder layout)")
    extract.add_argument("--split", choices=SPLITS, default=None, help="one split (default: all)")
    extract.add_argument("--n", type=int, default=None, help="a seeded sample of N images (default: all)")
    return parser


def _add_importer(p: argparse.ArgumentParser, importer: Importer) -> None:
    """Flags from the importer's options; values are checked by ``check_options`` (one rule set)."""
    p.set_defaults(importer=importer)
    if importer.arg:
        p.add_argument("source", metavar=importer.arg, help=importer.arg_help)
    p.add_argument("--store", required=True, help="store directory (created if absent)")
    add_option_flags(p, importer.options)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run_import(args: argparse.Namespace) -> int:
    """Run ``import <kind>`` through the registry and print the report."""
    importer: Importer = args.importer
    given = {opt.name: getattr(args, opt.name) for opt in importer.options}
    flags = {opt.name: opt.flag for opt in importer.options}
    options = check_options(importer, given, where=lambda name: flags.get(name, name))
    report = invoke(importer, getattr(args, "source", None), args.store, options, progress=not args.no_progress)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print a store's summary (plain or JSON)."""
    info = StoreReader(args.store).info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Write a grid of sample images."""
    from autolit.store.show import save_grid  # Pillow drawing only needed here

    out = save_grid(args.store, args.out, n=args.n, cell=args.cell, split=args.split)
    print(f"wrote {out}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Check every record; list the bad ones; 0 when all are good, 1 otherwise."""
    from autolit.store.verify import verify_store

    result = verify_store(args.store)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.table())
    return 0 if result.ok else 1


def run_extract(args: argparse.Namespace) -> int:
    """Write the records as files."""
    from autolit.store.extract import extract

    count = extract(args.store, args.out, split=args.split, n=args.n)
    print(f"wrote {count} images to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, report."""
    args = build_parser().parse_args(argv)
    if hasattr(args, "store"):
        args.store = str(Path(args.store))
    commands = {"import": run_import, "info": run_info, "show": run_show, "verify": run_verify,
                "extract": run_extract}
    return commands[args.command](args)


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))
