"""Predict labels (or values) for images with an exported model, on CPU.

Usage::

    python -m autolit.predict exports/digits img1.png photos/ https://example.org/seven.png
    python -m autolit.predict exports/digits photos/ --top-k 3 --json --batch-size 64
    python -m autolit.predict exports/digits photos/ --runtime torchscript --int8
    python -m autolit.predict exports/digits http://192.168.1.5/cam.png --allow-hosts 192.168.1.5

INPUT is an image file, a folder (walked recursively for image files) or an http(s) URL
(fetched with autolit's safe downloader: public addresses only unless the host is named in
``--allow-hosts``, redirects re-checked, timeouts, size cap). Images go through exactly the
export's preprocessing (preprocessing.json: the training resize rule and normalisation).
Output: a table, or with ``--json`` one JSON object per input:
``{"path", "label", "prob", "top": [{"label", "prob"}...]}``, ``{"path", "value"}`` for
regression, or ``{"path", "error"}`` for an input that cannot be read; the others go on.
Exit status: 0 when every input was predicted, 1 when any input could not be read, 2 for a
usage error (no export folder, bad option). Runtime: ONNX Runtime if installed, else
TorchScript (``--runtime``). The work is done by :class:`autolit.deploy.ExportedModel`; this module
parses and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from autolit.deploy.inputs import expand, safe_fetch
from autolit.deploy.model import ExportedModel, Prediction
from autolit.deploy.runtime import RUNTIMES
from autolit.errors import UserError, run_cli


def format_row(pred: Prediction, width: int) -> str:
    """One table line: path, then ``label prob`` pairs, the value, or the error."""
    if pred.error is not None:
        body = f"error: {pred.error}"
    elif pred.top is None:
        body = f"{pred.value:.6g}"
    else:
        body = "  ".join(f"{name} {prob:.3f}" for name, prob in pred.top)
    return f"{pred.path:<{width}}  {body}"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m autolit.predict", description=__doc__.split("\n")[0])
    parser.add_argument("export_dir", help="a folder written by python -m autolit.export")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or http(s) URLs")
    parser.add_argument("--top-k", type=int, default=3, help="labels to show per image (default 3)")
    parser.add_argument("--json", action="store_true", help="one JSON object per input instead of a table")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model call (default 64)")
    parser.add_argument("--runtime", default="auto", choices=RUNTIMES, help="auto: ONNX Runtime if installed")
    parser.add_argument("--int8", action="store_true", help="use the int8 model (export --quantize int8)")
    parser.add_argument("--threads", type=int, help="intra-op threads of the runtime (default: its own; "
                                                     "1 is steadiest on a busy machine)")
    parser.add_argument("--allow-hosts", default="", metavar="HOST,...",
                        help="URL hosts (as written in the URL) allowed to resolve to private or loopback "
                             "addresses, e.g. a LAN image server; default: public addresses only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: parse → open the export → predict → print; exit 1 if any input failed."""
    args = _parse(argv)
    if args.top_k < 1 or args.batch_size < 1 or (args.threads is not None and args.threads < 1):
        raise UserError(f"--top-k, --batch-size and --threads must be >= 1, got {args.top_k}, "
                        f"{args.batch_size} and {args.threads}")
    model = ExportedModel(args.export_dir, args.runtime, int8=args.int8, threads=args.threads)
    sources = list(expand(args.inputs))
    width = min(60, max((len(s.name) for s in sources), default=4))
    failed = 0
    hosts = tuple(h.strip() for h in args.allow_hosts.split(",") if h.strip())
    fetch = safe_fetch(allow_hosts=hosts) if hosts else None
    for pred in model.predict(sources, top_k=args.top_k, batch_size=args.batch_size, fetch=fetch):
        failed += pred.error is not None
        print(json.dumps(pred.to_dict()) if args.json else format_row(pred, width), flush=args.json)
    if failed:
        print(f"{failed} of {len(sources)} inputs could not be read", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    run_cli(main)
