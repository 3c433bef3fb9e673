"""Export a trained checkpoint (or a study's best trial) to TorchScript and ONNX, then verify it.

Usage::

    python -m autolit.export runs/digits/version_0/checkpoints/best.ckpt --out exports/digits
    python -m autolit.export CKPT --format torchscript,onnx --quantize int8 --out exports/digits
    python -m autolit.export --storage runs/search/digits/journal.log --study-name digits --out exports/digits

The folder gets one model file per format (model.pt, model.onnx), labels.json,
preprocessing.json, spec.json and metadata.json (+ model.int8.* with ``--quantize int8``). Every
exported file runs over the test split (seeded noise without one) and is compared with the checkpoint; a difference above
``autolit.deploy.verify.TOLERANCE`` is an error (exit 2; the files go to ``OUT.failed`` and an
earlier export in ``--out`` stays as it was). The work is done by
:func:`autolit.deploy.export_checkpoint`; this module parses and prints.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

# Before anything loads PyTorch and its OpenMP runtime (which reads this once, at load): idle
# OpenMP threads sleep instead of spinning. On cores that other work shares, a spinning thread
# burns the slice its partner thread needs (2-thread TorchScript calls on 2 loaded cores: 10x the
# CPU time and wall time of the same calls with passive threads). An OMP_WAIT_POLICY set by the
# caller wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from autolit.deploy.export import QUANTIZE, export_checkpoint  # after the policy above
from autolit.deploy.formats import DEFAULT_FORMATS, EXPORTERS
from autolit.deploy.verify import TOLERANCE
from autolit.errors import UserError, run_cli


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m autolit.export", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", nargs="?", help="a .ckpt file (or use --storage/--study-name)")
    parser.add_argument("--storage", help="Optuna storage of a study (journal file or postgresql:// URL)")
    parser.add_argument("--study-name", help="study whose best trial's checkpoint is exported")
    parser.add_argument("--format", default=",".join(DEFAULT_FORMATS),
                        help=f"comma list of {', '.join(EXPORTERS)} (default {','.join(DEFAULT_FORMATS)})")
    parser.add_argument("--quantize", choices=QUANTIZE, help="also write int8 dynamic-quantised models")
    parser.add_argument("--store", help="store to score the test split on (default: the training store)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="max abs output difference allowed vs the checkpoint")
    parser.add_argument("--batch-size", type=int,
                        help="images per verification batch (default: ~4 MiB of input, e.g. 4 photos at 288 px)")
    parser.add_argument("--threads", type=int,
                        help="PyTorch and ONNX Runtime threads while verifying (default: the usable CPUs)")
    parser.add_argument("--out", required=True, help="output folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: parse → resolve the checkpoint → export + verify → print the report."""
    args = _parse(argv)
    from_study = args.storage is not None or args.study_name is not None
    if (args.checkpoint is not None) == from_study or (from_study and None in (args.storage, args.study_name)):
        raise UserError("pass either a checkpoint path or both --storage and --study-name, not both; e.g. "
                        "python -m autolit.export runs/digits/version_0/checkpoints/best.ckpt --out exports/digits")
    options = {"quantize": args.quantize, "store": args.store, "tolerance": args.tolerance,
               "batch_size": args.batch_size, "threads": args.threads}
    if from_study:
        from autolit.search.best import export_best  # an entry point may use the search room

        report = export_best(args.storage, args.study_name, args.out, args.format, **options)
    else:
        report = export_checkpoint(args.checkpoint, args.out, args.format, **options)
    print(report.render())
    return 0


if __name__ == "__main__":
    run_cli(main)
