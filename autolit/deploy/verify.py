"""Check an export against its checkpoint, and score models on the store's test split.

Agreement is measured on the model's outputs (probabilities, or values for regression): the
largest absolute difference over the test split (or seeded noise) must stay within ``TOLERANCE``. Float32 graphs
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
    """How closely one exported file reproduces the checkpoint on the export's :class:`Inputs`."""

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


#: a verification batch holds about this many input values (float32: 4 MiB), so its activations
#: stay small enough for the allocator to reuse them (see :func:`batch_size_for`)
BATCH_VALUES = 1 << 20
MAX_BATCH = 256


def batch_size_for(channels: int, image_size: int) -> int:
    """Images per verification batch: ``BATCH_VALUES`` input values, 1..``MAX_BATCH`` images.

    Why not the whole split at once: a 256-image batch of 288 px photos through EfficientNet-Lite0
    allocates activations of hundreds of MB each; glibc serves those by mmap and returns them at
    every free, so every call faulted them in again (export of 153 photos: 10 GB peak, 2/3 of its
    CPU time in the kernel). Four such photos per batch run as fast per image without it.
    """
    return max(1, min(MAX_BATCH, BATCH_VALUES // max(1, channels * image_size * image_size)))


@dataclass(frozen=True)
class Inputs:
    """What every model of an export runs on, once each: the test split or seeded noise.

    One pass per model gives both the agreement with the checkpoint and the model's test score.
    The test images stay uint8 and are normalised one batch at a time (``prepare``), so a large
    test split costs its uint8 size, not four times that in float32.
    """

    images: np.ndarray                          # uint8 (N, C, S, S) test split, or float32 noise
    prepare: Callable[[np.ndarray], np.ndarray]  # a batch of ``images`` → the model's float32 input
    batch_size: int
    source: str                                 # "store test split" or "random normal"

    def outputs(self, run: Predict) -> np.ndarray:
        """``run`` over every image, ``batch_size`` at a time: ``(N, head)``."""
        parts = [run(self.prepare(self.images[i:i + self.batch_size]))
                 for i in range(0, len(self.images), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


def score(outputs: np.ndarray, targets: np.ndarray, task: Task) -> dict[str, float]:
    """The task's test metrics (the ones ``autolit.fit`` logs as ``test/*``) of ``(B, head)`` outputs."""
    if len(targets) == 0:
        return {}
    metrics = task.build_metrics(outputs.shape[1], "test")
    metrics.update(*task.metric_inputs(torch.from_numpy(outputs), torch.from_numpy(np.asarray(targets))))
    return {name.split("/", 1)[1]: float(value) for name, value in metrics.compute().items()}
