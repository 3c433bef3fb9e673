"""Classic baselines on a store's splits, what any trained model must beat, in seconds: logistic
regression, k-NN, a linear SVM and a random forest (scikit-learn; ridge, k-NN, linear SVR and a
forest for a regression store), fitted on train and scored on val and test.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

from autolit.training.features import SPLITS, Features


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
    """One table: the store's split sizes and features, then a row per model."""
    counts = ", ".join(f"{s} {len(feats.y[s])}" for s in SPLITS)
    lines = [f"store {store} ({counts}); {feats.what}, extracted in {feats.seconds:.1f} s",
             f"{'model':<22}{'val ' + metric:>12}{'test ' + metric:>12}{'fit s':>9}"]
    for row in rows:
        cells = [f"{row[s]:.4f}" if row[s] is not None else "-" for s in ("val", "test")]
        lines.append(f"{row['model']:<22}{cells[0]:>12}{cells[1]:>12}{row['seconds']:>9.2f}")
    return "\n".join(lines)


