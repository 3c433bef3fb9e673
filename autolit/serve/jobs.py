"""Submitting a job: the posted YAML is parsed, admitted and checked as the CLI checks it, and only
then written into a job folder and the table. A refused config writes nothing.

A job folder (``<home>/jobs/<time>-<token>/``) holds what the job's process reads and writes:

* fit: ``fit.yaml``; the run in ``runs/fit/version_<n>/`` (TensorBoard events, checkpoints);
* search: ``search.yaml`` (its ``fit_config: fit.yaml``) and ``fit.yaml``; trials and the journal
  in ``runs/<study>/``;
* ``job.log``: the process's stdout and stderr, every attempt appended; ``deploy/``: the export.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autolit.errors import UserError
from autolit.serve.models import JobRequest, Kind

FIT_FILE, SEARCH_FILE, LOG_FILE, DEPLOY_DIR = "fit.yaml", "search.yaml", "job.log", "deploy"
MAX_CONFIG_BYTES = 256 * 1024


class Refused(UserError):
    """A request the service will not run; ``key``/``value`` say where, when known."""

    def __init__(self, message: str, key: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.key, self.value = key, value


@dataclass(frozen=True)
class Prepared:
    """A checked job, ready to be written: the files of its folder, and what the table records."""

    kind: Kind
    name: str
    files: dict[str, str]
    storage: str | None
    study_name: str | None


def scrub(text: str) -> str:
    """``text`` without the server's SerpApi key or credentials (a scrape job's log, an error line)."""
    from autolit.serve.admission import scrub as admission_scrub

    return admission_scrub(text)


def _load(text: str, what: str) -> dict[str, Any]:
    from autolit.serve.admission import parse_yaml_text

    return parse_yaml_text(text, max_bytes=MAX_CONFIG_BYTES, what=what)


def prepare(request: JobRequest, roots: Any, job_dir: Path) -> Prepared:
    """Parse, admit and check ``request`` for running in ``job_dir`` (not created here).

    Raises :class:`Refused` (or the admission's error) with the CLI's message; writes nothing
    outside a temporary folder of its own.
    """
    from autolit.serve import admission

    try:
        if request.kind == Kind.fit:
            if request.fit_config is not None or request.storage is not None:
                raise Refused("fit_config and storage belong to search jobs: leave them out of a fit job")
            return _prepare_fit(request, roots, job_dir, admission)
        return _prepare_search(request, roots, job_dir, admission)
    except admission.AdmissionError as exc:
        raise Refused(str(exc), getattr(exc, "key", None), getattr(exc, "value", None)) from None


def _prepare_fit(request: JobRequest, roots: Any, job_dir: Path, admission: Any) -> Prepared:
    from autolit.training.validate import check_fit_config

    config = admission.admit_fit(_load(request.config, "config"), roots, job_dir=job_dir)
    check_fit_config(config)
    return Prepared(Kind.fit, request.name, {FIT_FILE: yaml.safe_dump(config, sort_keys=False)}, None, None)


def _prepare_search(request: JobRequest, roots: Any, job_dir: Path, admission: Any) -> Prepared:
    from autolit.search.config import base_fit_config, load_search_config
    from autolit.training.validate import check_fit_config

    search = _load(request.config, "config")
    fit = _load(request.fit_config, "fit_config") if request.fit_config is not None else _named_fit(search, roots)
    fit = admission.admit_fit(fit, roots, job_dir=job_dir)
    search = admission.admit_search({**search, "fit_config": FIT_FILE}, roots, job_dir=job_dir, fit_config=fit)
    search["fit_config"] = FIT_FILE
    files = {SEARCH_FILE: yaml.safe_dump(search, sort_keys=False), FIT_FILE: yaml.safe_dump(fit, sort_keys=False)}
    with tempfile.TemporaryDirectory(prefix="autolit-check-") as tmp:  # load_search_config reads files
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
        cfg = load_search_config(Path(tmp) / SEARCH_FILE)
        check_fit_config(base_fit_config(cfg))  # what every trial starts from
    return Prepared(Kind.search, request.name, files, _storage(request.storage), cfg.study.name)


def _named_fit(search: dict[str, Any], roots: Any) -> dict[str, Any]:
    """A search posted without ``fit_config`` text names an absolute file under the roots."""
    named = search.get("fit_config")
    if not isinstance(named, str) or not Path(named).is_absolute():
        raise Refused("fit_config: give the fit config as the request's fit_config text, or as an absolute "
                      "path under the server's --data-root", "fit_config", named)
    path = Path(named).resolve()
    inside = [Path(roots.home), *roots.data_roots]
    if not any(path.is_relative_to(Path(r).resolve()) for r in inside):
        raise Refused(f"fit_config: {named} is outside the server's home and data roots; fix: post its text "
                      "as fit_config, or put it under a --data-root", "fit_config", named)
    if not path.is_file():
        raise Refused(f"fit_config: {named} does not exist: check the path", "fit_config", named)
    return _load(path.read_text(encoding="utf-8", errors="replace"), f"fit_config {named}")


def _storage(storage: str | None) -> str | None:
    from autolit.search.storage import check_storage, is_rdb

    if storage is None:
        return None
    try:
        spec = check_storage(storage)
    except UserError as exc:
        raise Refused(str(exc).replace("--storage", "storage", 1), "storage", hide_password(storage)) from None
    if not is_rdb(spec):
        raise Refused("storage: give a postgresql://user:password@host/db URL, or leave it out (the study's "
                      "journal then lives in the job's folder)", "storage", hide_password(storage))
    return spec


def hide_password(url: str | None) -> str | None:
    """``postgresql://user:***@host/db``: what the API shows of a storage URL."""
    if not url or "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url


def new_folder(jobs_dir: Path) -> Path:
    """A fresh job folder's path (not created): relative paths of its config resolve against it."""
    return jobs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"


def write(prepared: Prepared, folder: Path) -> None:
    """Create the job's folder with its files."""
    folder.mkdir(parents=True)
    for name, text in prepared.files.items():
        (folder / name).write_text(text)
    (folder / LOG_FILE).touch()


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
