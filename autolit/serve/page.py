"""The web page at ``/``, and the few routes it needs beyond the job API.

The page is static files (``static/``: HTML, CSS, ES modules, vendored uPlot and js-yaml; nothing
from the network). :class:`PageAssets` serves them in front of the token guard: they hold no data,
and a browser must load the page before it can ask for the token. Everything the page reads goes
through ``/api/...`` behind the guard. :func:`page_router` adds what the job API lacks for a page:

* ``GET /api/page/configs``: the shipped ``configs/*.yaml`` and ``configs/search/*.yaml`` to start from;
* ``GET /api/page/stores``: the stores under the data roots (the data field's choices);
* ``GET /api/page/choices``: tasks, losses, layers, presets, augmentations, optimizers, schedulers;
* ``GET /api/jobs/{id}/config``: a job's YAML files ("clone and edit", compare's configs);
* ``GET /api/page/series``: one tag of many jobs, each downsampled on the server (compare);
* ``GET /api/page/headlines``: one headline metric per job (the jobs list);
* ``GET /api/jobs/{id}/samples``: val images with their label and the exported model's prediction;
* ``GET /api/jobs/{id}/report/{file}``: a search job's ``search report``, written on first ask.
"""

from __future__ import annotations

import mimetypes
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse

from autolit.serve import jobs as job_files

STATIC = Path(__file__).resolve().parent / "static"
REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
STORE_MARK = "data.mdb"        # an LMDB store folder holds this file
STORE_DEPTH = 3                # how deep under a data root stores are looked for
MAX_SERIES_POINTS = 5000
MAX_JOBS_PER_ASK = 200
MAX_SAMPLES = 32
ENDED_CACHE = 4096             # headlines and series of ended jobs kept
REPORT_DIR = "report"
REPORT_FRESH_S = 10.0        # a running search's report is written again when older than this
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
         ".svg": "image/svg+xml", ".png": "image/png", ".txt": "text/plain"}


def asset_table(root: Path = STATIC) -> dict[str, Path]:
    """URL path → file, fixed when the server starts: only these files are ever served (no path from
    a request reaches the file system)."""
    files = {f"/static/{p.relative_to(root).as_posix()}": p for p in sorted(root.rglob("*")) if p.is_file()}
    files["/"] = root / "index.html"
    return files


class PageAssets:
    """Pure ASGI middleware answering ``GET /`` and ``GET /static/...`` from :func:`asset_table`."""

    def __init__(self, app: Any) -> None:
        self.app, self.assets = app, asset_table()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = self.assets.get(scope.get("path", "")) if scope["type"] == "http" else None
        if path is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        body = path.read_bytes()
        kind = TYPES.get(path.suffix, mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        headers = [(b"content-type", f"{kind}; charset=utf-8".encode() if kind.startswith("text") else kind.encode()),
                   (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-cache"),
                   (b"x-content-type-options", b"nosniff")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def shipped_configs(root: Path = REPO_CONFIGS) -> dict[str, list[dict[str, str]]]:
    """The repository's example configs (absent from a wheel install: then none are offered)."""
    def read(folder: Path) -> list[dict[str, str]]:
        return [{"name": p.stem, "path": str(p.relative_to(root.parent)), "text": p.read_text()}
                for p in sorted(folder.glob("*.yaml"))]
    return {"fit": read(root) if root.is_dir() else [], "search": read(root / "search") if root.is_dir() else []}


def find_stores(roots: tuple[Path, ...], depth: int = STORE_DEPTH) -> list[str]:
    """Absolute paths of the LMDB stores under the data roots (a store is never looked into)."""
    found: list[str] = []

    def walk(folder: Path, left: int) -> None:
        if (folder / STORE_MARK).is_file():
            found.append(str(folder))
            return
        if left == 0:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            walk(child, left - 1)

    for root in roots:
        walk(Path(root), depth)
    return found


def choices() -> dict[str, Any]:
    """What the form's selects offer, read from the registries the config checks use."""
    from autolit.datamodules.augment import AUGMENTATIONS
    from autolit.modules.dims import AUTO, N_LABELS
    from autolit.modules.layers import LAYERS
    from autolit.modules.losses import LOSSES
    from autolit.modules.presets import PRESETS, PRETRAINED
    from autolit.modules.tasks import TASKS

    return {"tasks": {name: {"losses": list(t.losses), "metric": t.monitor} for name, t in TASKS.items()},
            "losses": list(LOSSES), "layers": sorted(LAYERS), "presets": list(PRESETS),
            "backbones": sorted(set(PRETRAINED.values())), "augmentations": sorted(AUGMENTATIONS),
            "auto": AUTO, "n_labels": N_LABELS, "auto_args": AUTO_ARGS,
            "optimizers": ["torch.optim.AdamW", "torch.optim.Adam", "torch.optim.SGD", "torch.optim.RMSprop"],
            "schedulers": ["", "torch.optim.lr_scheduler.CosineAnnealingLR", "torch.optim.lr_scheduler.StepLR",
                           "torch.optim.lr_scheduler.OneCycleLR", "torch.optim.lr_scheduler.ExponentialLR"],
            "precisions": ["32-true", "16-mixed", "bf16-mixed"]}


# layer arguments the spec resolves from the input shape ("auto" or left out), and where n_labels fits
AUTO_ARGS = {"Conv1d": ["in_channels"], "Conv2d": ["in_channels"], "Linear": ["in_features", "out_features"],
             "BatchNorm1d": ["num_features"], "BatchNorm2d": ["num_features"], "LayerNorm": ["normalized_shape"],
             "GroupNorm": ["num_channels"]}


def downsample(steps: list[int], values: list[float], limit: int) -> tuple[list[int], list[float]]:
    """At most ``limit`` points keeping each bucket's first, min and max (in step order): a curve's
    spikes survive, which an every-n-th pick would drop."""
    n = len(steps)
    if n <= limit:
        return steps, values
    buckets = max(1, limit // 3)
    keep: list[int] = []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if lo >= hi:
            continue
        part = range(lo, hi)
        picks = {lo, min(part, key=values.__getitem__), max(part, key=values.__getitem__)}
        keep += sorted(picks)
    if keep[-1] != n - 1:
        keep.append(n - 1)
    return [steps[i] for i in keep], [values[i] for i in keep]


def series_of(points: list[dict[str, Any]], tag: str) -> tuple[list[int], list[float]]:
    """One tag's points by step (a resumed fit re-logs steps: the last value of a step wins)."""
    by_step: dict[int, float] = {}
    for p in points:
        if p["tag"] == tag:
            by_step[p["step"]] = p["value"]
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


HEADLINE_TAGS = ("test/acc", "test/mae", "val/acc", "val/mae", "val/loss", "train/loss")


def one_series(points: list[dict[str, Any]], tag: str, limit: int) -> tuple[set[str], tuple[int, list, list]]:
    """A job's tags, and ``tag``'s point count with its downsampled steps and values."""
    steps, values = series_of(points, tag)
    return {p["tag"] for p in points}, (len(steps), *downsample(steps, values, limit))


def headline(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one figure the jobs list shows of a fit: its test accuracy (or MAE), else its last val
    figure; the page keeps it live from the event stream with the same order (jobs.js)."""
    tags = {p["tag"] for p in points}
    for tag in HEADLINE_TAGS:
        if tag in tags:
            last = [p for p in points if p["tag"] == tag][-1]
            return {"tag": tag, "value": last["value"], "step": last["step"]}
    return None


class EndedCache:
    """What the page derives from an ended job's scalars (a headline, a downsampled series), kept by
    job, attempt and end time: an ended job's event files no longer change, and its reader (64
    kept, the most recently used) may have been dropped, so a second look costs no re-read."""

    def __init__(self, size: int = ENDED_CACHE) -> None:
        self.size, self._items = size, OrderedDict()
        self._lock = threading.Lock()

    def get(self, row: dict[str, Any], what: tuple, make: Callable[[], Any]) -> Any:
        if row["ended_at"] is None:  # still running: always fresh
            return make()
        key = (row["id"], row["attempt"], row["ended_at"], *what)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def page_router(service: Any, job_row: Callable[[int], dict[str, Any]], problem: Callable[..., HTTPException],
                export: Callable[[dict[str, Any]], Path]) -> APIRouter:
    """The page's routes (behind the guard, like every ``/api`` route); ``export`` is the app's
    export of a job's best checkpoint (refusing a fit without one)."""
    router = APIRouter()
    cache = EndedCache()

    def points(row: dict[str, Any]) -> list[dict[str, Any]]:
        reader = service.readers.get(row)
        try:
            reader.poll()
        except Exception:  # noqa: BLE001 - a file being written or a study not there yet: what was read
            pass
        return reader.points

    def job_headline(row: dict[str, Any]) -> dict[str, Any] | None:
        if row["kind"] == "search":  # the best trial so far, in the study's own direction
            points(row)
            best = service.readers.get(row).best()
            return best and {"tag": "best trial", "value": best["value"], "step": best["number"]}
        return headline(points(row))

    @router.get("/api/page/configs")
    def configs() -> dict[str, list[dict[str, str]]]:
        """The shipped example configs, as text."""
        return shipped_configs()

    @router.get("/api/page/stores")
    def stores() -> dict[str, list[str]]:
        """Stores under the data roots, and the roots themselves."""
        roots = tuple(service.roots.data_roots)
        return {"roots": [str(r) for r in roots], "stores": find_stores(roots)}

    @router.get("/api/page/choices")
    def form_choices() -> dict[str, Any]:
        return choices()

    @router.get("/api/jobs/{job_id}/config")
    def job_config(job_id: int) -> dict[str, Any]:
        """The job's config as submitted (a search's also has the fit config it varies)."""
        row = job_row(job_id)
        folder = Path(row["folder"])
        main = folder / (job_files.FIT_FILE if row["kind"] == "fit" else job_files.SEARCH_FILE)
        fit = folder / job_files.FIT_FILE
        return {"id": job_id, "kind": row["kind"], "name": row["name"],
                "config": main.read_text() if main.is_file() else "",
                "fit_config": fit.read_text() if row["kind"] == "search" and fit.is_file() else None}

    @router.get("/api/page/series")
    def series(ids: list[int] = Query(...), tag: str = Query(...),
               points_per_run: int = Query(1000, ge=10, le=MAX_SERIES_POINTS)) -> dict[str, Any]:
        """``tag`` of each job in ``ids``, at most ``points_per_run`` points each (first/min/max per
        bucket), and every tag any of them logged (the compare view's metric choices)."""
        if len(ids) > MAX_JOBS_PER_ASK:
            raise problem(422, f"{len(ids)} jobs: ask for at most {MAX_JOBS_PER_ASK} at once", "ids")
        out, tags = [], set()
        for job_id in ids:
            row = job_row(job_id)
            job_tags, (total, steps, values) = cache.get(row, ("series", tag, points_per_run),
                                                         lambda row=row: one_series(points(row), tag, points_per_run))
            tags.update(job_tags)
            out.append({"id": job_id, "name": row["name"], "state": row["state"], "total": total,
                        "steps": steps, "values": values})
        return {"tag": tag, "series": out, "tags": sorted(tags)}

    @router.get("/api/page/headlines")
    def headlines(ids: list[int] = Query(...)) -> dict[str, Any]:
        """One headline figure per job (None before it logged one)."""
        if len(ids) > MAX_JOBS_PER_ASK:
            raise problem(422, f"{len(ids)} jobs: ask for at most {MAX_JOBS_PER_ASK} at once", "ids")
        found = {}
        for job_id in ids:
            row = service.table.get(job_id)
            if row is None:
                continue
            found[str(job_id)] = cache.get(row, ("headline",), lambda row=row: job_headline(row))
        return {"headlines": found}

    @router.get("/api/jobs/{job_id}/samples")
    def samples(job_id: int, n: int = Query(8, ge=1, le=MAX_SAMPLES)) -> dict[str, Any]:
        """``n`` images of the fit's validation split (a seeded sample) with their true label and the
        exported model's prediction: the job page's sample predictions (never the test split)."""
        from autolit.serve.deployment import Upload

        row = job_row(job_id)
        if row["kind"] != "fit":
            raise problem(404, f"job {job_id} is a search: open its best trial's fit for samples")
        images, truths = val_sample(Path(row["folder"]), n)
        export(row)
        preds, runtime = service.deployments.predict(row, [Upload(f"sample{i}", d) for i, d in enumerate(images)], 3)
        return {"split": "val", "runtime": runtime, "samples": [
            {"image": data_url(d), "truth": t, **p} for d, t, p in zip(images, truths, preds)]}

    @router.get("/api/jobs/{job_id}/report/{name}")
    def report(job_id: int, name: str) -> FileResponse:
        """A search job's report (``python -m autolit.search report``), written when first asked and
        again when the study has changed since."""
        row = job_row(job_id)
        if row["kind"] != "search":
            raise problem(404, f"job {job_id} is a fit: only a search has a report")
        out = Path(row["folder"]) / REPORT_DIR
        index = out / "index.html"
        if not index.is_file() or index.stat().st_mtime < (row["ended_at"] or time.time() - REPORT_FRESH_S):
            write_search_report(row, out)
        files = {p.name: p for p in out.iterdir() if p.is_file()}
        if name not in files:
            raise problem(404, f"the report of job {job_id} has no file {name!r} (start at index.html)")
        # its own opaque origin: the report's scripts never reach the page's storage (the token)
        return FileResponse(files[name], media_type=TYPES.get(files[name].suffix),
                            headers={"Content-Security-Policy": "sandbox allow-scripts"})

    return router


def val_sample(folder: Path, n: int, seed: int = 0) -> tuple[list[bytes], list[str]]:
    """Encoded images and label names of ``n`` records of the job's store's val split."""
    import random

    import yaml

    from autolit.store.reader import StoreReader

    data = (yaml.safe_load((folder / job_files.FIT_FILE).read_text()) or {}).get("data") or {}
    store = Path(data.get("store") or "")
    reader = StoreReader(store if store.is_absolute() else folder / store)
    try:
        keys = reader.keys("val")
        keys = sorted(random.Random(seed).sample(keys, min(n, len(keys))))
        records = [reader.read(k) for k in keys]
        labels = reader.meta.labels
    finally:
        reader.close()
    return [r[0] for r in records], [labels[v] if labels and isinstance(v, int) else str(v) for _, v in records]


def data_url(image: bytes) -> str:
    import base64

    kind = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
    return f"data:{kind};base64,{base64.b64encode(image).decode()}"


def write_search_report(row: dict[str, Any], out: Path) -> None:
    """The study's report into the job's folder (what ``python -m autolit.search report`` writes)."""
    from autolit.search.records import load_existing_study
    from autolit.search.report import write_report
    from autolit.serve.progress import study_storage

    write_report(load_existing_study(study_storage(row), row["study_name"]), out)
