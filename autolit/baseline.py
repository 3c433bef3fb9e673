"""Classic baselines on a store's splits: what any trained model must beat, in seconds.

    python -m autolit.baseline --store stores/hymenoptera_pretrained
    python -m autolit.baseline --store stores/hymenoptera_pretrained --features tf_efficientnet_lite0 \\
        --weights ../shared/data/weights/tf_efficientnet_lite0.safetensors
    python -m autolit.baseline --store stores/digits --features pixels --image-size 8 --json

Logistic regression, k-NN, a linear SVM and a random forest (scikit-learn) are fitted on the train
split and scored on val and test (accuracy; MAE for a regression store), on either raw ``pixels``
(the decoded cache at ``--image-size``, flattened) or the pooled features of a frozen pretrained
``Backbone`` (any timm / torchvision name; its weights' input size, mean and std). One table, one
row per model; ``--json`` adds the figures as one JSON line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from autolit.errors import UserError, run_cli
from autolit.training.features import PIXELS


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m autolit.baseline", description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, help="the store (its train/val/test splits)")
    parser.add_argument("--features", default=PIXELS,
                        help="pixels (default) or a timm / torchvision architecture name (frozen features)")
    parser.add_argument("--weights", default="imagenet", help="backbone weights: imagenet (default) or a file")
    parser.add_argument("--image-size", type=int, help="square side in px (pixels: 32; backbone: its weights')")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse → features → fit the four baselines → one table."""
    args = _parse(argv)
    if args.image_size is not None and args.image_size < 1:
        raise UserError(f"--image-size {args.image_size}: must be a positive number of pixels")
    from autolit.training.baselines import render, run_baselines
    from autolit.training.features import load_features, open_store

    try:
        reader = open_store(args.store)
    except UserError as exc:
        raise UserError(f"--store {args.store}: {exc}") from None
    try:
        feats = load_features(reader, args.features, args.weights, args.image_size)
    except UserError as exc:  # the Backbone's own words; say which flags made that spec
        raise UserError(f"--features {args.features} --weights {args.weights}: {exc}") from None
    finally:
        reader.close()
    rows = run_baselines(feats)
    metric = "MAE" if feats.regression else "acc"
    print(render(rows, feats, args.store, metric))
    if args.json:
        print(json.dumps({"store": args.store, "features": feats.what, "metric": metric,
                          "extract_seconds": round(feats.seconds, 2), "rows": rows}))
    return 0


if __name__ == "__main__":
    run_cli(main)
