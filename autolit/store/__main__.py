"""Build and inspect image stores.

Usage::

    python -m autolit.store import digits --store data/digits.store [--variant digits|parity|rotation]
    python -m autolit.store import idx data/mnist --store data/mnist.store
    python -m autolit.store import folder data/hymenoptera_data/train --store data/ants.store
    python -m autolit.store import csv data/angles.csv --store data/angles.store
    python -m autolit.store info data/mnist.store [--json]
    python -m autolit.store show data/mnist.store --out grid.png [--n 64] [--split val]

Common import options: ``--max-side N`` and ``--encode auto|PNG|JPEG`` (only when creating a store),
``--batch-size N``, ``--workers N``, ``--no-progress``, ``--json`` (print the report as JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autolit.errors import UserError, run_cli
from autolit.store import importers
from autolit.store.policy import ENCODINGS, ImagePolicy
from autolit.store.reader import StoreReader
from autolit.store.splits import SPLITS, SplitPolicy


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree: import {digits,idx,folder,csv}, info, show."""
    parser = argparse.ArgumentParser(prog="python -m autolit.store", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import images into a store")
    kinds = imp.add_subparsers(dest="kind", required=True)
    for kind, arg_help in (("digits", None), ("idx", "folder with MNIST IDX files"),
                           ("folder", "folder with one subfolder per label"),
                           ("csv", "CSV of path,target rows")):
        p = kinds.add_parser(kind, help=f"import {kind}")
        if arg_help:
            p.add_argument("source", help=arg_help)
        _add_import_options(p, variant=kind == "digits")
        if kind == "folder":
            p.add_argument("--split", choices=SPLITS, default=None,
                           help="pin every image to this split (default: split by content hash)")
            p.add_argument("--val-fraction", type=float, default=None, help="new store: share of val (0.1)")
            p.add_argument("--test-fraction", type=float, default=None, help="new store: share of test (0.1)")
    info = sub.add_parser("info", help="print what a store holds")
    info.add_argument("store")
    info.add_argument("--json", action="store_true", help="print the info as one JSON object")
    show = sub.add_parser("show", help="save a labelled grid of sample images")
    show.add_argument("store")
    show.add_argument("--out", required=True, help="image file to write, e.g. grid.png")
    show.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    show.add_argument("--split", choices=("train", "val", "test"), default=None)
    show.add_argument("--cell", type=int, default=96, help="cell size in pixels (default 96)")
    return parser


def _add_import_options(p: argparse.ArgumentParser, *, variant: bool) -> None:
    p.add_argument("--store", required=True, help="store directory (created if absent)")
    if variant:
        p.add_argument("--variant", choices=importers.DIGITS_VARIANTS, default="digits")
    else:
        p.add_argument("--workers", type=int, default=None, help="decode processes (default: CPUs)")
    p.add_argument("--max-side", type=int, default=None, help="long side limit for a new store (256)")
    p.add_argument("--encode", choices=ENCODINGS, default=None,
                   help="encoding for a new store (auto: JPEG for JPEG/WEBP sources, else PNG)")
    p.add_argument("--batch-size", type=int, default=importers.IMPORT_BATCH,
                   help=f"images per write transaction (default {importers.IMPORT_BATCH})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _policy(args: argparse.Namespace) -> ImagePolicy | None:
    """A policy only when the user asked for one (else the store's own, or the default)."""
    if args.max_side is None and args.encode is None:
        return None
    base = ImagePolicy()
    max_side = base.max_side if args.max_side is None else args.max_side  # 0 is refused, not defaulted
    return ImagePolicy(max_side=max_side, encode=args.encode or base.encode)


def run_import(args: argparse.Namespace) -> int:
    """Dispatch ``import <kind>`` and print the report."""
    common = {"progress": not args.no_progress, "policy": _policy(args), "batch_size": args.batch_size}
    if args.kind == "digits":
        report = importers.import_digits(args.store, variant=args.variant, **common)
    else:
        fn = {"idx": importers.import_idx, "folder": importers.import_folder,
              "csv": importers.import_csv}[args.kind]
        if args.kind == "folder":
            common["split"] = args.split
            if args.val_fraction is not None or args.test_fraction is not None:
                base = SplitPolicy()
                common["split_policy"] = SplitPolicy(
                    val=base.val if args.val_fraction is None else args.val_fraction,
                    test=base.test if args.test_fraction is None else args.test_fraction)
        report = fn(args.source, args.store, workers=args.workers, **common)
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


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, report."""
    args = build_parser().parse_args(argv)
    if getattr(args, "batch_size", 1) < 1:
        raise UserError(f"--batch-size {args.batch_size} must be at least 1")
    if hasattr(args, "store"):
        args.store = str(Path(args.store))
    return {"import": run_import, "info": run_info, "show": run_show}[args.command](args)


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))
