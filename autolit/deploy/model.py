"""An export folder opened for prediction: model + labels + the training preprocessing.

:class:`ExportedModel` is what ``python -m autolit.predict`` drives and what embedders use:
decoded with exactly the training rule (preprocessing.json), run by the runtime of an exported
format (ONNX Runtime or TorchScript, see ``formats/``), interpreted by the task's definition.
A folder whose metadata.json is missing or records a failed verification is refused.
Unreadable inputs become an ``error`` row and the others go on. No torch is imported on the
ONNX Runtime path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autolit.deploy.bundle import check_export_dir, check_verified, read_labels
from autolit.deploy.inputs import Fetch, Source, expand
from autolit.deploy.preprocessing import BadImage, Preprocessing
from autolit.deploy.runtime import load_runtime
from autolit.modules.tasks import get_task


@dataclass
class Prediction:
    """The result for one input: ``top`` (classification), ``value`` (regression) or ``error``."""

    path: str
    top: list[tuple[str, float]] | None = None
    value: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        if self.top is None:
            return {"path": self.path, "value": self.value}
        top = [{"label": name, "prob": round(prob, 6)} for name, prob in self.top]  # float32: 6 places is all
        return {"path": self.path, "label": top[0]["label"], "prob": top[0]["prob"], "top": top}


class ExportedModel:
    """An export folder opened for prediction (model + labels + preprocessing)."""

    def __init__(self, export_dir: str | Path, runtime: str = "auto", *, int8: bool = False,
                 threads: int | None = None) -> None:
        self.dir = check_export_dir(Path(export_dir))
        check_verified(self.dir)  # never run files a failed or unfinished export left
        self.pre = Preprocessing.load(self.dir)
        self.pre.check_resize_rule()
        self.labels = read_labels(self.dir)
        self.task = get_task(self.pre.task, f"{self.dir / 'preprocessing.json'}: task")
        self.runtime = load_runtime(self.dir, runtime, int8=int8, threads=threads)

    def outputs(self, images: np.ndarray) -> np.ndarray:
        """uint8 ``(B, C, S, S)`` → model outputs ``(B, K)`` (probabilities or values)."""
        return self.runtime.run(self.pre.normalize(images))

    def interpret(self, row: np.ndarray, top_k: int) -> tuple[list[tuple[str, float]] | None, float | None]:
        """One output row → (top-k (label, prob) pairs, None) or (None, regression value)."""
        task = self.task
        if not task.classification:
            return None, float(row[0])
        probs = task.class_probabilities(row[None])[0]
        order = np.argsort(-probs, kind="stable")[:max(1, top_k)]
        return [(self.labels[i] if i < len(self.labels) else str(i), float(probs[i])) for i in order], None

    def predict(self, sources: Iterable[Source], *, top_k: int = 3, batch_size: int = 64,
                fetch: Fetch | None = None) -> Iterator[Prediction]:
        """Predictions in input order; unreadable inputs yield an ``error`` and are skipped."""
        pending: list[tuple[Source, np.ndarray | str]] = []
        decoded = 0
        for source in sources:
            try:
                item: np.ndarray | str = self.pre.decode(source.read(fetch))
                decoded += 1
            except BadImage as exc:
                item = str(exc)
            pending.append((source, item))
            if decoded >= batch_size:
                yield from self._flush(pending, top_k)
                pending, decoded = [], 0
        yield from self._flush(pending, top_k)

    def _flush(self, pending: list[tuple[Source, np.ndarray | str]], top_k: int) -> Iterator[Prediction]:
        arrays = [item for _, item in pending if not isinstance(item, str)]
        outputs = iter(self.outputs(np.stack(arrays))) if arrays else iter(())
        for source, item in pending:
            if isinstance(item, str):
                yield Prediction(source.name, error=item)
            else:
                top, value = self.interpret(next(outputs), top_k)
                yield Prediction(source.name, top=top, value=value)


def predict_paths(export_dir: str | Path, inputs: Sequence[str], *, top_k: int = 3, batch_size: int = 64,
                  runtime: str = "auto", int8: bool = False, fetch: Fetch | None = None) -> list[Prediction]:
    """Convenience: open ``export_dir`` and predict every input (files, folders, URLs)."""
    model = ExportedModel(export_dir, runtime, int8=int8)
    return list(model.predict(expand(list(inputs)), top_k=top_k, batch_size=batch_size, fetch=fetch))
