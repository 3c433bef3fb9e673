"""What a job has produced so far, read from its folder: the log, the run's scalars, a study's trials.

Scalars come from the run's TensorBoard event files through TensorBoard's own reader
(``EventFileLoader``), which keeps its place in each file: a :class:`ScalarReader` per job reads
only what was appended since it last looked, so polling a running job is cheap. A search job's
points are its study's trials (one per finished trial, step = trial number).
"""

from __future__ import annotations

import signal
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from autolit.serve.jobs import scrub

MAX_LOG_CHUNK = 256 * 1024
CACHED_READERS = 64


def read_log(path: Path, offset: int, limit: int = MAX_LOG_CHUNK) -> tuple[str, int, int]:
    """``(text, next_offset, size)`` of the log from byte ``offset`` (at most ``limit`` bytes)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            offset = max(0, min(offset, size))
            handle.seek(offset)
            data = handle.read(limit)
    except OSError:
        return "", offset, 0
    return scrub(data.decode("utf-8", errors="replace")), offset + len(data), size


def error_line(log: Path, code: int) -> str:
    """The one line that says why a job failed: the CLI's ``error: …`` line, else the last line of
    a traceback, else the exit code (and the signal that ended it)."""
    try:
        with log.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            lines = [ln.strip() for ln in handle.read().decode("utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    mine = [ln for ln in lines if ln.startswith("error: ")]
    if mine:
        return scrub(mine[-1][len("error: "):])[:1000]
    if lines and not lines[-1].startswith("=="):
        tail = scrub(lines[-1])[:1000]
        return f"exit code {code}: {tail}"
    if code < 0:
        try:
            return f"exit code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"exit code {code}"


def run_dir(folder: Path) -> Path | None:
    """The newest run folder of a fit job (``runs/fit/version_<n>``), once the fit made one."""
    runs = sorted((folder / "runs" / "fit").glob("version_*"), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs else None


def last_checkpoint(folder: Path) -> Path | None:
    """The ``last.ckpt`` a resumed fit starts from, if any."""
    found = sorted((folder / "runs" / "fit").glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def best_checkpoint(folder: Path) -> Path | None:
    run = run_dir(folder)
    path = run / "checkpoints" / "best.ckpt" if run else None
    return path if path is not None and path.is_file() else None


class ScalarReader:
    """Every scalar of the event files under a folder, read incrementally."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loaders: dict[Path, Any] = {}
        self.points: list[dict[str, Any]] = []
        self.images: dict[str, tuple[int, bytes]] = {}  # tag -> (step, encoded PNG) of the latest
        self._lock = threading.Lock()

    def poll(self) -> list[dict[str, Any]]:
        """Read what was appended since the last poll; return the new points."""
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

        with self._lock:
            new: list[dict[str, Any]] = []
            for path in sorted(self.root.glob("**/events.out.tfevents.*")):
                if path not in self.loaders:
                    self.loaders[path] = EventFileLoader(str(path))
                for event in self.loaders[path].Load():
                    new += self._points(event)
            self.points += new
            return new

    def _points(self, event: Any) -> list[dict[str, Any]]:
        if not event.HasField("summary"):
            return []
        found = []
        for value in event.summary.value:
            if value.HasField("simple_value"):
                number = float(value.simple_value)
            elif value.HasField("image"):
                self.images[value.tag] = (int(event.step), bytes(value.image.encoded_image_string))
                continue
            elif value.HasField("tensor") and value.metadata.plugin_data.plugin_name == "images":
                encoded = value.tensor.string_val  # [width, height, PNG bytes...]
                if len(encoded) >= 3:
                    self.images[value.tag] = (int(event.step), bytes(encoded[2]))
                continue
            elif value.HasField("tensor") and value.metadata.plugin_data.plugin_name == "scalars":
                from tensorboard.util import tensor_util

                number = float(tensor_util.make_ndarray(value.tensor).item())
            else:
                continue
            found.append({"tag": value.tag, "step": int(event.step), "value": number, "wall_time": event.wall_time})
        return found


class StudyReader:
    """A search job's study: one point per finished trial, and the best trial."""

    def __init__(self, storage: str, study_name: str) -> None:
        self.storage, self.study_name = storage, study_name
        self.seen: set[int] = set()
        self.points: list[dict[str, Any]] = []
        self._study: Any = None
        self._lock = threading.Lock()

    def study(self) -> Any:
        if self._study is None:
            from autolit.search.records import load_existing_study

            self._study = load_existing_study(self.storage, self.study_name)
        return self._study

    def poll(self) -> list[dict[str, Any]]:
        import optuna

        with self._lock:
            try:
                study = self.study()
            except Exception:  # noqa: BLE001 - not created yet (the search is starting), or unreachable
                return []
            metric = study.user_attrs.get("metric", "value")
            new = []
            for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
                if trial.number in self.seen or trial.value is None:
                    continue
                self.seen.add(trial.number)
                new.append({"tag": metric, "step": trial.number, "value": float(trial.value),
                            "wall_time": trial.datetime_complete.timestamp() if trial.datetime_complete else None})
            self.points += new
            return new

    def best(self) -> dict[str, Any] | None:
        from autolit.search.records import RUN_DIR, best_trial

        with self._lock:
            try:
                trial = best_trial(self.study())
            except Exception:  # noqa: BLE001
                return None
        if trial is None:
            return None
        return {"number": trial.number, "value": float(trial.value), "params": dict(trial.params),
                "run_dir": trial.user_attrs.get(RUN_DIR)}


def study_storage(job: dict[str, Any]) -> str:
    """Where a search job's study lives: its URL, or the journal in its folder."""
    return job["storage"] or str(Path(job["folder"]) / "runs" / job["study_name"] / "journal.log")


class Readers:
    """One reader per job, the most recently used kept (a reader holds open files)."""

    def __init__(self) -> None:
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job: dict[str, Any]) -> ScalarReader | StudyReader:
        with self._lock:
            reader = self._cache.pop(job["id"], None)
            if reader is None:
                reader = (ScalarReader(Path(job["folder"]) / "runs") if job["kind"] == "fit"
                          else StudyReader(study_storage(job), job["study_name"]))
            self._cache[job["id"]] = reader
            while len(self._cache) > CACHED_READERS:
                self._cache.popitem(last=False)
            return reader

    def forget(self, job_id: int) -> None:
        with self._lock:
            self._cache.pop(job_id, None)
