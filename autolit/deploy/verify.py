"""Check an export against its checkpoint, and score models on the store's test split.

Agreement is measured on the model's outputs (probabilities, or values for regression): the
largest absolute difference over a sample batch must stay within ``TOLERANCE``. Float32 graphs
from the same weights differ only by kernel rounding (~1e-7), so 1e-4 catches real mistakes
(wrong weights, a missing softmax, a different input layout) without flaking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from autolit.deploy.preprocessing import BadImage, Preprocessing
from autolit.errors import UserError, one_line
from autolit.modules.tasks import Task
from autolit.store.damage import damaged

if TYPE_CHECKING:
    from autolit.store import StoreMeta, StoreReader

TOLERANCE = 1e-4
Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class Agreement:
    """How closely one exported file reproduces the checkpoint on the sample batch."""

    file: str
    runtime: str
    max_abs_diff: float
    top1_agreement: float
    tolerance: float | None   # None: not enforced (int8 models are compared by accuracy instead)

    @property
    def ok(self) -> bool:
        return self.tolerance is None or self.max_abs_diff <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def torch_predict(model: torch.nn.Module) -> Predict:
    """Wrap a torch module (the checkpoint's predictor) as numpy → numpy."""
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()
    return run


def compare(reference: np.ndarray, outputs: np.ndarray, file: str, runtime: str, task: Task,
            tolerance: float | None = TOLERANCE) -> Agreement:
    """Max abs difference and top-1 agreement of ``outputs`` against ``reference``."""
    diff = float(np.max(np.abs(reference - outputs))) if reference.size else 0.0
    agree = float(np.mean(task.top1(reference) == task.top1(outputs))) if reference.size else 1.0
    return Agreement(file, runtime, diff, agree, tolerance)


def load_split(reader: StoreReader, pre: Preprocessing, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Decode a store split by the export's rule: (uint8 (N, C, S, S), targets (N,))."""
    images, targets = [], []
    for key in reader.keys(split):
        data, target = reader.read(key)
        try:
            images.append(pre.decode(data, stored=True))
        except BadImage as exc:  # the store's own import accepted it: the record changed since
            raise damaged(reader.path, exc, key) from None
        targets.append(target)
    shape = (0, pre.channels, pre.image_size, pre.image_size)
    x = np.stack(images) if images else np.zeros(shape, np.uint8)
    return x, np.asarray(targets)


def check_store_fits(meta: StoreMeta, hparams: dict[str, Any], where: str) -> None:
    """The store's task and labels must be the checkpoint's: other labels make :func:`score` crash on
    the shapes, or score silently wrong."""
    task, fix = hparams.get("task"), "fix: pass --store with the store the model was trained on"
    if (task == "regression") != (meta.task == "regression"):
        raise UserError(f"{where} holds a {meta.task} data set but the checkpoint's task is {task!r}; {fix}")
    if task == "regression":
        return
    names = list(hparams.get("label_names") or [])
    if names and names != meta.labels:
        raise UserError(f"{where} has the labels {one_line(meta.labels, 120)} but the checkpoint was trained "
                        f"on {one_line(names, 120)}; {fix}")
    n_labels = 2 if task == "binary" else hparams.get("n_labels")
    if not names and n_labels is not None and n_labels != len(meta.labels):
        raise UserError(f"{where} has {len(meta.labels)} labels but the checkpoint was trained on {n_labels}; {fix}")


def batched(run: Predict, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Run ``run`` over normalised ``x`` in batches and concatenate."""
    parts = [run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


def score(outputs: np.ndarray, targets: np.ndarray, task: Task) -> dict[str, float]:
    """The task's test metrics (the ones ``autolit.fit`` logs as ``test/*``) of ``(B, head)`` outputs."""
    if len(targets) == 0:
        return {}
    metrics = task.build_metrics(outputs.shape[1], "test")
    metrics.update(*task.metric_inputs(torch.from_numpy(outputs), torch.from_numpy(np.asarray(targets))))
    return {name.split("/", 1)[1]: float(value) for name, value in metrics.compute().items()}
