"""Study storage: a journal file on one host, PostgreSQL across hosts; never SQLite.

A journal file (``optuna.storages.journal.JournalFileBackend``) takes concurrent appends from
many processes under a file lock but has no heartbeat, so trials left RUNNING by a killed worker
are found here (:func:`recover_stale`) when a search starts, when the driver sees a worker die and
every half minute while it runs: each RUNNING trial whose worker process is gone is
failed and its parameters are enqueued once more. PostgreSQL goes through
``RDBStorage`` with a heartbeat: any worker's next trial fails a stale one and retries it once.
"""

from __future__ import annotations

import os
import socket
import warnings
from datetime import datetime
from pathlib import Path

import optuna
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from autolit.errors import UserError, one_line
from autolit.search.study import retry_once

RDB_SCHEMES = ("postgresql://", "postgresql+psycopg2://", "postgres://")
WORKER_ATTR = "worker"  # "host:pid" of the process running a trial, set when the trial starts
PROCESS_ATTR = "worker_process"  # its process_identity(): tells a reused pid from the worker
# A worker tags its trial within milliseconds of asking for it; one untagged for this long is a dead one's.
UNTAGGED_GRACE_S = 60.0


def default_storage(runs_dir: str | Path, study_name: str) -> str:
    """The journal file used when no ``--storage`` is given."""
    return str(Path(runs_dir) / study_name / "journal.log")


def check_storage(spec: str) -> str:
    """Refuse storages parallel workers cannot share; return ``spec`` normalised."""
    if spec.startswith("sqlite:"):
        raise UserError(
            f"--storage {spec}: SQLite locks up under parallel workers; give a journal file path "
            "(one host, e.g. runs/search/<study>/journal.log) or a postgresql://user@host/db URL"
        )
    if "://" in spec and not spec.startswith(RDB_SCHEMES):
        raise UserError(f"--storage {spec}: unsupported URL scheme; use a file path or postgresql://...")
    if spec.startswith("postgres://"):
        return "postgresql://" + spec[len("postgres://"):]
    return spec


def is_rdb(spec: str) -> bool:
    """True for a PostgreSQL URL."""
    return spec.startswith(RDB_SCHEMES)


def open_storage(spec: str, *, heartbeat_interval: int = 60, grace_period: int = 120,
                 create: bool = True) -> optuna.storages.BaseStorage:
    """Open the storage named by ``spec`` (file path or postgresql:// URL).

    A journal file is read through once here, so a damaged one (truncated or overwritten bytes,
    another kind of file) stops with one line naming it instead of a decoder traceback later.
    ``create=False`` (readers: status, report) does not create missing folders.
    """
    spec = check_storage(spec)
    if is_rdb(spec):
        return _open_rdb(spec, heartbeat_interval, grace_period)
    return _open_journal(Path(spec), create)


# What optuna's journal replay raises on bytes it did not write (it asserts on unknown op codes).
_DAMAGED = (UnicodeDecodeError, ValueError, AssertionError, KeyError, TypeError, IndexError, AttributeError)


def _open_journal(path: Path, create: bool) -> JournalStorage:
    if path.is_dir():
        raise UserError(f"--storage {path} is a folder: give a journal file, e.g. {path / 'journal.log'}")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(path)))
        storage.get_all_studies()  # replays the whole journal once
    except OSError as exc:
        raise UserError(f"--storage {path}: cannot open the journal file ({exc.strerror or one_line(exc)}): "
                        "give a journal path in a writable folder with free space") from None
    except _DAMAGED as exc:
        raise UserError(f"--storage {path}: not a readable Optuna journal ({one_line(exc, 120)}); the file is "
                        "damaged or of another kind: restore it from a copy, or give a new --storage "
                        "(and --study-name) to start afresh") from None
    return storage


def _driver_url(url: str) -> str:
    """Pick the installed driver: SQLAlchemy >= 2.1 maps plain postgresql:// to psycopg 3."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def _open_rdb(url: str, heartbeat_interval: int, grace_period: int) -> RDBStorage:
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat args
    try:
        return RDBStorage(
            _driver_url(url),
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            # optuna >= 4.9 name of RetryFailedTrialCallback; ours also tags the retry `retry_of`.
            heartbeat_stale_trial_callback=retry_once,
        )
    except ImportError as exc:
        raise UserError(f"--storage {_scrub(url)}: {exc}; fix: pip install psycopg2-binary (one of autolit's dependencies)") from None
    except Exception as exc:  # sqlalchemy.OperationalError etc.: unreachable server, bad login
        first = one_line(str(exc))
        raise UserError(f"--storage {_scrub(url)}: cannot connect ({first}): check the URL and that the server runs") from None


def _scrub(url: str) -> str:
    """Hide a password in a URL before it reaches a message."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def worker_tag(pid: int | None = None) -> str:
    """``host:pid`` of this process (or of worker ``pid`` on this host), recorded on each trial it runs."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def process_identity(pid: int | None = None) -> str | None:
    """``<boot id>:<start time>`` of a process (Linux), so a pid reused after a crash or a reboot is
    not taken for the worker that once had it; ``None`` where /proc cannot tell."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{os.getpid() if pid is None else pid}/stat").read_text()
        return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, starttime
    except (OSError, IndexError):
        return None


def _alive(tag: object, other_hosts_alive: bool) -> bool:
    """Whether the process named by a ``host:pid`` tag may still run."""
    if not isinstance(tag, str) or ":" not in tag:
        return False
    host, pid = tag.rsplit(":", 1)
    if host != socket.gethostname():
        return other_hosts_alive  # cannot look; PostgreSQL's heartbeat decides for other hosts
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reused(tag: object, identity: object) -> bool:
    """Whether the live process with the tag's pid (on this host) is another than the one recorded."""
    if not isinstance(identity, str) or not isinstance(tag, str) or tag.rsplit(":", 1)[0] != socket.gethostname():
        return False
    now = process_identity(int(tag.rsplit(":", 1)[1]))
    return now is not None and now != identity


def recover_stale(study: optuna.Study, *, single_host: bool = True, tag: str | None = None,
                  untagged_after_s: float = UNTAGGED_GRACE_S) -> list[int]:
    """Fail RUNNING trials whose worker is gone and enqueue each once more; return their numbers.

    Runs when a search starts and ends, while it runs (:data:`UNTAGGED_GRACE_S`), and with ``tag``
    when the driver saw that worker die: then only that worker's trials are failed. A journal file
    is single-host, so a trial whose worker is not a live process here is stale. With PostgreSQL
    (``single_host=False``) only trials of dead processes on this host are failed here; the
    heartbeat handles other hosts.

    A trial is RUNNING from ``study.ask()`` on, but its worker tags it (:data:`WORKER_ATTR`) only in
    a second write, as the objective starts: an untagged trial may be a live worker's, of this run
    or of another launch on the same storage, so it is failed only once it started more than
    ``untagged_after_s`` ago (its worker died between the two writes).
    """
    failed = []
    now = datetime.now()  # FrozenTrial.datetime_start is naive local time in both storages
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        seen = trial.user_attrs.get(WORKER_ATTR)
        if tag is not None and seen != tag:
            continue
        if seen is None:
            young = trial.datetime_start is None or (now - trial.datetime_start).total_seconds() < untagged_after_s
            if young or not single_host:
                continue
        elif _alive(seen, other_hosts_alive=not single_host) and not _reused(seen, trial.user_attrs.get(PROCESS_ATTR)):
            continue
        try:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process finished it meanwhile (both storages raise; neither returns False)
        retry_once(study, trial)  # failing it changed its state only: params and user attrs are as read
        failed.append(trial.number)
    return failed
