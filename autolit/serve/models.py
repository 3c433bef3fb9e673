"""Every request and response of the job service, as pydantic models (what ``/docs`` shows)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, Field


class Kind(str, Enum):
    """What a job runs: ``python -m autolit.fit`` or ``python -m autolit.search``."""

    fit = "fit"
    search = "search"


class State(str, Enum):
    """``queued → running → succeeded | failed | stopped``; ``stopping`` while a stop's grace period
    runs; ``interrupted`` when the server died under a running job. ``succeeded`` and ``failed``
    never change; ``stopped`` and ``interrupted`` change only when the job is resumed."""

    queued = "queued"
    running = "running"
    stopping = "stopping"
    succeeded = "succeeded"
    failed = "failed"
    stopped = "stopped"
    interrupted = "interrupted"


FINAL = (State.succeeded, State.failed)
RESUMABLE = (State.stopped, State.interrupted)
ENDED = FINAL + RESUMABLE
LIVE = (State.running, State.stopping)


class JobRequest(BaseModel):
    """``POST /api/jobs``: the config as YAML text, the same file the CLI takes."""

    kind: Kind
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*$",
                      description="a label for people; letters, digits, '.', '_', '-', ' '")
    config: str = Field(description="the fit or search config, as YAML text")
    fit_config: str | None = Field(None, description="search jobs: the fit config the search varies, as YAML "
                                   "text (replaces the file its fit_config: names)")
    storage: str | None = Field(None, description="search jobs: a postgresql:// URL to run the study on, which "
                                "`python -m autolit.search --storage` on other machines can join; default: a "
                                "journal file in the job's folder")


class ConfigProblem(BaseModel):
    """Why a config was refused: the CLI's own one-line message, and where."""

    message: str
    key: str | None = Field(None, description="dotted key path of the offending value, when known")
    value: Any = None


class Problem(BaseModel):
    """Any refusal: ``detail`` says what is wrong and the fix."""

    detail: str | ConfigProblem | dict[str, Any]


class BestTrial(BaseModel):
    """The best trial of a search job's study."""

    number: int
    value: float
    params: dict[str, Any]
    run_dir: str | None = None


class Job(BaseModel):
    """One job as the table holds it, with what it has produced so far."""

    id: int
    kind: Kind
    name: str
    state: State
    created_at: float = Field(description="seconds since the epoch")
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    error: str | None = Field(None, description="the one error line of a failed job")
    attempt: int = Field(0, description="how many times a process was started for it (resume adds one)")
    slot: str | None = Field(None, description="where it runs: 'cpu' or a GPU index")
    pid: int | None = Field(None, description="its process (and process group) while it runs")
    folder: str
    run_dir: str | None = Field(None, description="the fit's run folder (TensorBoard events, checkpoints)")
    storage: str | None = Field(None, description="a search job's study storage (password hidden)")
    study_name: str | None = None
    test_metrics: dict[str, float] | None = Field(None, description="test/* of a finished fit")
    confusion_matrix: str | None = Field(None, description="URL of the fit's last val/confusion_matrix image")
    best_trial: BestTrial | None = None
    exported: bool = False


class JobList(BaseModel):
    """``GET /api/jobs``: newest first."""

    jobs: list[Job]
    total: int
    offset: int
    limit: int


class LogChunk(BaseModel):
    """``GET /api/jobs/{id}/log``: the job's output from ``offset``; ask again from ``next_offset``."""

    offset: int
    next_offset: int
    size: int
    text: str


class MetricPoint(BaseModel):
    """One scalar: TensorBoard's (tag, step, value); for a search, one point per trial (step: its number)."""

    tag: str
    step: int
    value: float
    wall_time: float | None = None


class Metrics(BaseModel):
    """``GET /api/jobs/{id}/metrics``: points with ``step > since``."""

    points: list[MetricPoint]
    last_step: int


class TopLabel(BaseModel):
    label: str
    prob: float


class Prediction(BaseModel):
    """One uploaded image (``path``: its file name), as ``python -m autolit.predict --json`` prints it."""

    path: str
    label: str | None = None
    prob: float | None = None
    top: list[TopLabel] | None = None
    value: float | None = None


class Predictions(BaseModel):
    """``POST /api/jobs/{id}/predict``."""

    predictions: list[Prediction]
    runtime: str


class ExportInfo(BaseModel):
    """``POST /api/jobs/{id}/export``: the verified export folder."""

    folder: str
    files: dict[str, int] = Field(description="file name → bytes")
    zip_url: str


class Deleted(BaseModel):
    id: int
    folder_removed: bool
