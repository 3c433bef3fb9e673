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
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autolit.errors import UserError, run_cli

SPLITS = ("train", "val", "test")
PIXELS = "pixels"


@dataclass
class Features:
    """One matrix per split (N, D) with its targets, and how it was made."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    what: str
    seconds: float
    regression: bool


def classifiers() -> dict[str, Callable[[], Any]]:
    """The classification baselines, each a fresh scikit-learn estimator (scaled where it matters)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return {
        "logistic regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000)),
        "k-NN (k=5)": lambda: make_pipeline(StandardScaler(), KNeighborsClassifier(5)),
        "linear SVM": lambda: make_pipeline(StandardScaler(), LinearSVC(C=0.01, max_iter=5000)),
        "random forest": lambda: RandomForestClassifier(300, n_jobs=-1, random_state=0),
    }


def regressors() -> dict[str, Callable[[], Any]]:
    """The same four families for a regression store."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVR

    return {
        "ridge regression": lambda: make_pipeline(StandardScaler(), Ridge(1.0)),
        "k-NN (k=5)": lambda: make_pipeline(StandardScaler(), KNeighborsRegressor(5)),
        "linear SVR": lambda: make_pipeline(StandardScaler(), LinearSVR(max_iter=5000)),
        "random forest": lambda: RandomForestRegressor(300, n_jobs=-1, random_state=0),
    }


def load_features(store: str, features: str, weights: str, image_size: int | None) -> Features:
    """Raw pixels or frozen backbone features for every split of ``store`` (the decoded cache's order)."""
    from autolit.datamodules import cache as decoded_cache

    reader = _open(store)
    try:
        start = time.perf_counter()
        if features == PIXELS:
            size, channels = image_size or 32, _store_channels(reader)
            data = decoded_cache.get_or_build(reader, size, channels)
            x = {s: _flat(data.split(s)[0]) for s in SPLITS}                     # (N, C*S*S)
            what = f"pixels {channels}x{size}x{size}"
        else:
            x, size, data = _backbone_features(reader, features, weights, image_size)
            what = f"{features} features ({x['train'].shape[1]}) at {size} px"
        y = {s: np.asarray(data.split(s)[1]) for s in SPLITS}
        return Features(x, y, what, time.perf_counter() - start, reader.meta.task == "regression")
    finally:
        reader.close()


def _flat(images: Any) -> np.ndarray:
    """uint8 (N, C, S, S) -> float32 (N, C*S*S) in [0, 1]; the width is spelled out so N may be 0."""
    a = np.asarray(images)
    return a.reshape(len(a), int(np.prod(a.shape[1:]))).astype(np.float32) / 255


def _open(store: str) -> Any:
    from autolit.store import StoreReader

    try:
        reader = StoreReader(store)  # the store's own checks: exists, is a folder, is a store
    except UserError as exc:
        raise UserError(f"--store {store}: {exc}") from None
    if not reader.keys("train"):
        reader.close()
        raise UserError(f"--store {store} has no train images; fix: import some")
    return reader


def _store_channels(reader: Any) -> int:
    return int(reader.record(reader.keys("train")[0])["channels"])


def _backbone_features(reader: Any, name: str, weights: str,
                       image_size: int | None) -> tuple[dict[str, np.ndarray], int, Any]:
    """Pooled features (N, F) of a frozen Backbone, input prepared as its weights expect."""
    import torch

    from autolit.datamodules import cache as decoded_cache
    from autolit.datamodules.preprocess import normalize_batch
    from autolit.modules.backbone import Backbone, backbone_preprocessing

    try:
        pre = backbone_preprocessing([{"Backbone": {"name": name, "weights": weights}}]) or {}
        backbone = Backbone(name, weights=weights, trainable="none", where="Backbone").eval()
    except UserError as exc:  # name the flags, not the spec keys
        text = str(exc).replace("model.layers[0].Backbone", "Backbone")
        raise UserError(text.replace("Backbone.name", "--features").replace("Backbone.weights", "--weights")
                        .replace("write weights: ", "pass --weights ")) from None
    size = image_size or pre.get("image_size") or 224
    data = decoded_cache.get_or_build(reader, size, 3)
    mean, std = (torch.tensor(pre.get(k) or [0.5] * 3).view(1, -1, 1, 1) for k in ("mean", "std"))
    backbone = backbone.to(memory_format=torch.channels_last)  # NHWC: ~1.6x faster on the CPU
    out = {}
    with torch.inference_mode():
        for split in SPLITS:
            images = data.split(split)[0]
            parts = [backbone(normalize_batch(torch.from_numpy(np.array(images[i:i + 64])), mean, std)
                              .contiguous(memory_format=torch.channels_last))
                     for i in range(0, len(images), 64)]                  # (B, 3, S, S) -> (B, F)
            out[split] = torch.cat(parts).numpy() if parts else np.zeros((0, 1), np.float32)
    return out, size, data


def run_baselines(feats: Features) -> list[dict[str, Any]]:
    """Fit every baseline on train; score val and test."""
    from sklearn.metrics import accuracy_score, mean_absolute_error

    from sklearn.exceptions import ConvergenceWarning

    score = mean_absolute_error if feats.regression else accuracy_score
    rows = []
    for name, make in (regressors() if feats.regression else classifiers()).items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a baseline's figure is what it is
            model = make().fit(feats.x["train"], feats.y["train"])
        row: dict[str, Any] = {"model": name}
        for split in ("val", "test"):
            row[split] = float(score(feats.y[split], model.predict(feats.x[split]))) if len(feats.y[split]) else None
        row["seconds"] = round(time.perf_counter() - start, 2)
        rows.append(row)
    return rows


def render(rows: list[dict[str, Any]], feats: Features, store: str, metric: str) -> str:
    counts = ", ".join(f"{s} {len(feats.y[s])}" for s in SPLITS)
    lines = [f"store {store} ({counts}); {feats.what}, extracted in {feats.seconds:.1f} s",
             f"{'model':<22}{'val ' + metric:>12}{'test ' + metric:>12}{'fit s':>9}"]
    for row in rows:
        cells = [f"{row[s]:.4f}" if row[s] is not None else "-" for s in ("val", "test")]
        lines.append(f"{row['model']:<22}{cells[0]:>12}{cells[1]:>12}{row['seconds']:>9.2f}")
    return "\n".join(lines)


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
    feats = load_features(args.store, args.features, args.weights, args.image_size)
    rows = run_baselines(feats)
    metric = "MAE" if feats.regression else "acc"
    print(render(rows, feats, args.store, metric))
    if args.json:
        print(json.dumps({"store": args.store, "features": feats.what, "metric": metric,
                          "extract_seconds": round(feats.seconds, 2), "rows": rows}))
    return 0


if __name__ == "__main__":
    run_cli(main)
