"""Export a job's best model and predict with it, as ``python -m autolit.export`` / ``predict`` do.

The export is the verified folder ``python -m autolit.export`` writes, made by running that very
command (a process of its own, through the launcher, so it dies with the server) into the job's
``deploy/`` and kept there. Predictions run in the server on that folder through
:class:`autolit.deploy.ExportedModel` (ONNX Runtime; no torch), so an upload gets exactly the
decode path, image policy and preprocessing of ``python -m autolit.predict``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autolit.serve.jobs import DEPLOY_DIR, Refused
from autolit.serve.progress import best_checkpoint, error_line, study_storage

EXPORT_LOG = "export.log"
EXPORT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Upload:
    """An uploaded file as a predict source (the ``name``/``read`` of :class:`autolit.deploy.inputs.Source`)."""

    name: str
    data: bytes

    def read(self, fetch: Any = None) -> bytes:
        return self.data


class Deployments:
    """Each job's export (made once, on first need) and its opened model."""

    def __init__(self) -> None:
        self._locks: dict[int, threading.Lock] = {}
        self._models: dict[int, Any] = {}
        self._guard = threading.Lock()

    def _lock(self, job_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(job_id, threading.Lock())

    def export(self, job: dict[str, Any]) -> Path:
        """The job's verified export folder, made now if it is not there yet."""
        folder = Path(job["folder"])
        out = folder / DEPLOY_DIR
        with self._lock(job["id"]):
            if (out / "metadata.json").is_file():
                return out
            if job["kind"] == "fit":
                ckpt = best_checkpoint(folder)
                if ckpt is None:
                    raise Refused(f"job {job['id']} has no best checkpoint yet: export it once it has run an epoch")
                args = [str(ckpt)]
            else:
                args = ["--storage", study_storage(job), "--study-name", job["study_name"]]
            cmd = [sys.executable, "-m", "autolit.export", *args, "--out", DEPLOY_DIR]
            log = folder / EXPORT_LOG
            with open(log, "wb") as handle:
                proc = subprocess.Popen([sys.executable, "-m", "autolit.serve.launch", str(os.getpid()), "--", *cmd],
                                        cwd=folder, stdin=subprocess.DEVNULL, stdout=handle,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                try:
                    code = proc.wait(EXPORT_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
            if code != 0:
                raise Refused(f"export of job {job['id']} failed: {error_line(log, code)}")
            return out

    def model(self, job: dict[str, Any]) -> Any:
        """The job's export opened for prediction (kept open)."""
        from autolit.deploy.model import ExportedModel

        out = self.export(job)
        with self._lock(job["id"]):
            if job["id"] not in self._models:
                self._models[job["id"]] = ExportedModel(out, "auto")
            return self._models[job["id"]]

    def forget(self, job_id: int) -> None:
        with self._guard:
            self._models.pop(job_id, None)

    def predict(self, job: dict[str, Any], uploads: list[Upload], top_k: int) -> tuple[list[dict[str, Any]], str]:
        """Predictions for every upload; any file that is not a readable image refuses the request."""
        model = self.model(job)
        with self._lock(job["id"]):  # one runtime session, one caller at a time
            preds = list(model.predict(uploads, top_k=top_k))
        bad = [{"name": p.path, "code": p.error.split(":", 1)[0], "detail": p.error} for p in preds if p.error]
        if bad:
            raise Refused(f"{len(bad)} of {len(uploads)} uploads are not images the model can read: "
                          + "; ".join(f"{b['name']}: {b['detail']}" for b in bad), "files", bad)
        return [p.to_dict() for p in preds], getattr(model.runtime, "name", type(model.runtime).__name__)


def listing(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()}


def zip_bytes(out: Path) -> bytes:
    """The export folder as a zip (small: model files of a few MB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in listing(out):
            archive.write(out / name, f"deploy/{name}")
    return buffer.getvalue()
