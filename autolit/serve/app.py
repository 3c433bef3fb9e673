"""The HTTP API (FastAPI): jobs, their progress, the event stream, export and predict.

Routes are plain ``def`` functions, which FastAPI runs in its thread pool: the table, a config's
checks and an ONNX session are blocking calls, and none of them ever runs on the event loop.
Training never runs in this process; the runner starts one process group per job.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse

from autolit.errors import UserError
from autolit.serve import jobs as job_files
from autolit.serve.deployment import Deployments, Upload, listing, zip_bytes
from autolit.serve.events import Watcher, stream
from autolit.serve.guard import Guard
from autolit.serve.models import (ENDED, Deleted, ExportInfo, Job, JobList, JobRequest, Kind, LogChunk, Metrics,
                                  Predictions, Problem, State)
from autolit.serve.page import PageAssets, page_router
from autolit.serve.progress import Readers, read_log, run_dir
from autolit.serve.runner import Runner
from autolit.serve.table import JobTable
from autolit.store.policy import MAX_SOURCE_BYTES

KEY_AT_START = re.compile(r"^(?:config: )?([A-Za-z_][\w]*(?:\.[\w]+|\[\d+\])+):")
JOBS_DIR = "jobs"  # <home>/jobs/<id>/: every job's folder; jobs may touch nothing else of <home>
MAX_UPLOAD_BYTES = 256 * 1024 * 1024  # one predict request, all files together
PROBLEMS = {401: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}}


@dataclass
class Service:
    """What the routes share; the table is the only state that matters."""

    table: JobTable
    runner: Runner
    roots: Any
    home: Path
    token: str | None = None
    max_files: int = 64
    readers: Readers = field(default_factory=Readers)
    deployments: Deployments = field(default_factory=Deployments)
    halted: threading.Event = field(default_factory=threading.Event)


def problem(status: int, message: str, key: str | None = None, value: Any = None) -> HTTPException:
    return HTTPException(status, {"message": message, "key": key, "value": value})


def refused(exc: UserError) -> HTTPException:
    """A config problem as a 422 naming the key (the admission's, or the one the CLI's message starts with)."""
    key, value = getattr(exc, "key", None), getattr(exc, "value", None)
    if key is None and (match := KEY_AT_START.match(str(exc))):
        key = match.group(1)
    return problem(422, str(exc), key, value if isinstance(value, (str, int, float, bool, list, dict)) else
                   (None if value is None else repr(value)))


def create_app(service: Service) -> FastAPI:
    from contextlib import asynccontextmanager

    watcher = Watcher(service.table, service.readers)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.runner.start()
        watcher.start()
        yield
        service.halted.set()
        watcher.stop()
        service.runner.shutdown()

    app = FastAPI(title="autolit job service", version="1", lifespan=lifespan,
                  description="Fit and search jobs run as `python -m autolit.fit|search` processes; see docs/serve.md.")
    app.add_middleware(Guard, token=service.token, max_upload=MAX_UPLOAD_BYTES)
    app.add_middleware(PageAssets)  # outside the guard: the page's files hold no data (autolit/serve/page.py)
    table, runner = service.table, service.runner

    def job_row(job_id: int) -> dict[str, Any]:
        row = table.get(job_id)
        if row is None:
            raise problem(404, f"job {job_id} does not exist (GET /api/jobs lists them)")
        return row

    @app.post("/api/jobs", response_model=Job, status_code=201, responses=PROBLEMS)
    def submit(request: JobRequest) -> Job:
        """Check the config as the CLI does, then queue the job; a refused config writes nothing."""
        folder = job_files.new_folder(service.home / JOBS_DIR)
        try:
            prepared = job_files.prepare(request, service.roots, folder)
        except UserError as exc:
            raise refused(exc) from None
        job_files.write(prepared, folder)
        job_id = table.insert(prepared.kind.value, prepared.name, folder, prepared.storage, prepared.study_name)
        runner.wake()
        return to_job(service, table.get(job_id))

    @app.get("/api/jobs", response_model=JobList, responses=PROBLEMS)
    def list_jobs(state: list[State] = Query(default=[]), kind: Kind | None = None,
                  offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=500)) -> JobList:
        """Jobs newest first, filtered by state(s) and kind, paged."""
        rows, total = table.list(states=[s.value for s in state], kind=kind.value if kind else None,
                                 offset=offset, limit=limit)
        return JobList(jobs=[to_job(service, r, detail=False) for r in rows], total=total, offset=offset, limit=limit)

    @app.get("/api/jobs/{job_id}", response_model=Job, responses=PROBLEMS)
    def get_job(job_id: int) -> Job:
        """State, times, exit code, error line, run folder, test metrics, best trial."""
        return to_job(service, job_row(job_id))

    @app.delete("/api/jobs/{job_id}", response_model=Deleted, responses=PROBLEMS)
    def delete_job(job_id: int, delete_folder: bool = False) -> Deleted:
        """Forget an ended job; with ``delete_folder=true`` also remove its folder (runs, checkpoints, export)."""
        row = job_row(job_id)
        if State(row["state"]) not in ENDED:
            raise problem(409, f"job {job_id} is {row['state']}: stop it first (POST /api/jobs/{job_id}/stop)")
        table.delete(job_id)
        service.readers.forget(job_id)
        service.deployments.forget(job_id)
        if delete_folder:
            job_files.remove(Path(row["folder"]))
        return Deleted(id=job_id, folder_removed=delete_folder)

    def act(job_id: int, done: bool, row: dict[str, Any], wanted: str) -> Job:
        """The job after a stop or resume; 409 when its state (``row``, read before) did not allow it."""
        if not done:
            raise problem(409, f"job {job_id} is {row['state']}: only {wanted}")
        return to_job(service, job_row(job_id))

    @app.post("/api/jobs/{job_id}/stop", response_model=Job, responses=PROBLEMS)
    def stop_job(job_id: int) -> Job:
        """SIGTERM to the job's process group; SIGKILL after the grace period. Ends ``stopped``."""
        row = job_row(job_id)
        return act(job_id, runner.stop_job(job_id), row, "a queued or running job can be stopped")

    @app.post("/api/jobs/{job_id}/resume", response_model=Job, responses=PROBLEMS)
    def resume_job(job_id: int) -> Job:
        """Queue a stopped or interrupted job again: a fit goes on from last.ckpt, a search on its study."""
        row = job_row(job_id)
        return act(job_id, runner.resume_job(job_id), row, "a stopped or interrupted job can be resumed")

    @app.get("/api/jobs/{job_id}/log", response_model=LogChunk, responses=PROBLEMS)
    def get_log(job_id: int, offset: int = Query(0, ge=0)) -> LogChunk:
        """The job's output (every attempt) from byte ``offset``; ask again from ``next_offset``."""
        row = job_row(job_id)
        text, end, size = read_log(Path(row["folder"]) / job_files.LOG_FILE, offset)
        return LogChunk(offset=min(offset, size), next_offset=end, size=size, text=text)

    @app.get("/api/jobs/{job_id}/metrics", response_model=Metrics, responses=PROBLEMS)
    def get_metrics(job_id: int, since: int = -1, tag: str | None = None) -> Metrics:
        """Every scalar the run logged (TensorBoard event files), or one point per trial of a search."""
        reader = service.readers.get(job_row(job_id))
        try:
            reader.poll()
        except Exception:  # noqa: BLE001 - an event file being written: what was read so far
            pass
        points = [p for p in reader.points if p["step"] > since and (tag is None or p["tag"] == tag)]
        return Metrics(points=points, last_step=max((p["step"] for p in points), default=since))

    @app.get("/api/events", responses=PROBLEMS)
    async def events(request: Request, after: int | None = None) -> StreamingResponse:
        """Server-sent events of every job: ``state``, ``log``, ``metrics``, ``deleted``; each with an
        ``id:``. Reconnect with ``Last-Event-ID`` (or ``?after=ID``) to miss nothing; ``?after=0`` replays all."""
        header = request.headers.get("last-event-id")
        start = after if after is not None else int(header) if header and header.isdigit() else table.last_event_id()
        return StreamingResponse(stream(table, start, request.is_disconnected, service.halted),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/jobs/{job_id}/export", response_model=ExportInfo, responses=PROBLEMS)
    def export_job(job_id: int) -> ExportInfo:
        """Export the best checkpoint (``python -m autolit.export``, verified) into the job's ``deploy/``."""
        out = _export(service, job_row(job_id))
        return ExportInfo(folder=str(out), files=listing(out), zip_url=f"/api/jobs/{job_id}/export.zip")

    @app.get("/api/jobs/{job_id}/export.zip", responses={**PROBLEMS, 200: {"content": {"application/zip": {}}}})
    def export_zip(job_id: int) -> Response:
        """The export folder as a zip (made first if needed)."""
        out = _export(service, job_row(job_id))
        return Response(zip_bytes(out), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="job-{job_id}-deploy.zip"'})

    @app.get("/api/jobs/{job_id}/confusion.png", responses={**PROBLEMS, 200: {"content": {"image/png": {}}}})
    def confusion(job_id: int) -> Response:
        """The fit's latest ``val/confusion_matrix`` figure, as TensorBoard shows it."""
        row = job_row(job_id)
        reader = service.readers.get(row)
        reader.poll()
        image = getattr(reader, "images", {}).get("val/confusion_matrix")
        if image is None:
            raise problem(404, f"job {job_id} has logged no confusion matrix (yet)")
        return Response(image[1], media_type="image/png")

    @app.post("/api/jobs/{job_id}/predict", response_model=Predictions, responses={**PROBLEMS, 413: {"model": Problem}})
    def predict(job_id: int, files: list[UploadFile] = File(...), top_k: int = Query(3, ge=1, le=100)) -> Predictions:
        """Labels and probabilities of uploaded images, from the job's exported best checkpoint."""
        if len(files) > service.max_files:
            raise problem(413, f"{len(files)} files: send at most {service.max_files} per request")
        uploads = [Upload(f.filename or f"file{i}", _read_capped(f)) for i, f in enumerate(files)]
        row = job_row(job_id)
        try:
            _export(service, row)
            preds, runtime = service.deployments.predict(row, uploads, top_k)
        except UserError as exc:
            raise refused(exc) from None
        return Predictions(predictions=preds, runtime=runtime)

    app.include_router(page_router(service, job_row, problem, lambda row: _export(service, row)))

    @app.exception_handler(UserError)
    def user_error(request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"detail": {"message": str(exc), "key": None, "value": None}}, status_code=422)

    return app


def _export(service: Service, row: dict[str, Any]) -> Path:
    if row["kind"] == Kind.fit.value and row["state"] != State.succeeded.value and not _has_best(row):
        raise problem(409, f"job {row['id']} is {row['state']} and has no best checkpoint yet")
    try:
        return service.deployments.export(row)
    except UserError as exc:
        raise problem(409, str(exc)) from None


def _has_best(row: dict[str, Any]) -> bool:
    run = run_dir(Path(row["folder"]))
    return run is not None and (run / "checkpoints" / "best.ckpt").is_file()


def _read_capped(upload: UploadFile) -> bytes:
    data = upload.file.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        raise problem(413, f"{upload.filename}: over {MAX_SOURCE_BYTES} bytes, the largest image autolit decodes",
                      "files", upload.filename)
    return data


def to_job(service: Service, row: dict[str, Any], *, detail: bool = True) -> Job:
    """A table row as the API's :class:`Job`; ``detail`` adds what is read from the job's folder."""
    job = Job(id=row["id"], kind=row["kind"], name=row["name"], state=row["state"], created_at=row["created_at"],
              started_at=row["started_at"], ended_at=row["ended_at"], exit_code=row["exit_code"],
              error=row["error"], attempt=row["attempt"], slot=row["slot"], pid=row["pid"], folder=row["folder"],
              storage=job_files.hide_password(row["storage"]), study_name=row["study_name"])
    if not detail:
        return job
    folder = Path(row["folder"])
    job.exported = (folder / job_files.DEPLOY_DIR / "metadata.json").is_file()
    reader = service.readers.get(row)
    try:
        reader.poll()
    except Exception:  # noqa: BLE001 - a file being written or a study not there yet
        pass
    if row["kind"] == Kind.fit.value:
        run = run_dir(folder)
        job.run_dir = str(run) if run else None
        tests = {p["tag"]: p["value"] for p in reader.points if p["tag"].startswith("test/")}
        job.test_metrics = tests or None
        if "val/confusion_matrix" in reader.images:
            job.confusion_matrix = f"/api/jobs/{row['id']}/confusion.png"
    else:
        job.run_dir = str(folder / "runs" / (row["study_name"] or ""))
        best = reader.best()
        job.best_trial = best
    return job

