"""The parent side of a search: create the study once, start workers, watch them, report.

The parent creates the study (``load_if_exists``) and fails the stale RUNNING trials of earlier
runs before any worker starts, so workers only ever load it. It restarts a worker that crashed
(not one that stopped on a config error) at most ``MAX_RESTARTS`` times per slot; a slot that
keeps dying stops the search with one line naming the slot, the exit code and the log to read.
While workers run it prints one line per finished trial (:mod:`autolit.search.run.progress`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from autolit.errors import UserError
from autolit.search import study as study_lib
from autolit.search.config import MAX_EPOCHS, SearchConfig, base_fit_config, check_timeout, load_search_config
from autolit.search.records import RUN_DIR, TRIAL_LOG, best_trial
from autolit.search.refit import refit_of, refit_text
from autolit.search.run.budget import TEST_SHARE, BudgetKeeper, refit_epochs_within
from autolit.search.run.devices import Slot, parse_devices
from autolit.search.run.feasibility import DataInfo, data_info_for, probe_space
from autolit.search.run.progress import Progress
from autolit.search.run.refit import REFIT_LOG, FitFn, refit_dir, run_refit
from autolit.search.run.worker import EXIT_USER_ERROR, ObjectiveFactory, WorkerJob, respawn, spawn_workers, stop_all
from autolit.search.start import enqueue_points, get_dotted, start_points
from autolit.search.storage import (WORKER_ATTR, check_storage, default_storage, is_rdb, open_storage,
                                    recover_stale, worker_tag)

MAX_RESTARTS = 2
POLL_S = 1.0
SWEEP_S = 30.0  # how often the driver looks for stale trials while workers run


class WorkerKeepsDying(UserError):
    """A slot's worker died more than ``MAX_RESTARTS`` times: stop with one line, not a traceback."""


@dataclass(frozen=True)
class SearchRun:
    """What one ``python -m autolit.search`` invocation runs."""

    cfg: SearchConfig
    storage: str
    study_name: str
    n_trials: int
    timeout: float | None
    slots: list[Slot]
    runs_dir: Path
    started: float = field(default_factory=time.time)  # a --timeout counts from here, refit included


@dataclass(frozen=True)
class SearchRequest:
    """A search as the user asks for it (the CLI's flags; ``None``: the config's value)."""

    config: str | Path
    n_trials: int | None = None
    timeout: float | None = None
    devices: str = "auto"
    per_device: int = 1
    storage: str | None = None
    study_name: str | None = None
    runs_dir: Path = Path("runs/search")


def prepare(request: SearchRequest, data_info: Callable[[dict], DataInfo] | None = None) -> SearchRun:
    """Merge the request into its config, check everything and probe the space (which builds the
    trials' store once, here), before any worker starts; a mistake is a :class:`UserError`."""
    started = time.time()  # a --timeout counts from the launch: the probe (which may build the store) included
    cfg = load_search_config(request.config)
    name = request.study_name or cfg.study.name
    n_trials = cfg.study.n_trials if request.n_trials is None else request.n_trials
    if n_trials < 1:
        raise UserError(f"--n-trials {n_trials}: give 1 or more")
    timeout = cfg.study.timeout if request.timeout is None else check_timeout(request.timeout, "--timeout")
    storage = check_storage(request.storage or default_storage(request.runs_dir, name))
    slots = parse_devices(request.devices, request.per_device)
    _check_writable(Path(request.runs_dir) / name)
    probe_space(cfg, data_info or data_info_for)  # what trials get (overrides applied)
    return SearchRun(cfg=cfg, storage=storage, study_name=name, n_trials=n_trials, timeout=timeout,
                     slots=slots, runs_dir=Path(request.runs_dir), started=started)


def launch(request: SearchRequest, *, factory: ObjectiveFactory | None = None,
           data_info: Callable[[dict], DataInfo] | None = None) -> optuna.Study:
    """``python -m autolit.search``: prepare, say what runs where, run. ``factory``/``data_info``
    replace the real objective and data probe (tests pass stubs)."""
    from autolit.search.run.objective import make_objective

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our lines say what happens, not optuna's INFO
    run = prepare(request, data_info)
    print(f"study {run.study_name}: {run.n_trials} trials on {len(run.slots)} worker(s) "
          f"[{', '.join(s.label for s in run.slots)}], storage {run.storage}; each trial logs to "
          f"{run.runs_dir / run.study_name}/trial_<n>/trial.log", flush=True)
    return run_search(run, factory or make_objective)


def _check_writable(folder: Path) -> None:
    """Trial folders and worker logs go here: refuse a place that cannot take them before any trial."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"--runs-dir: cannot write trial folders in {folder} ({exc.strerror or exc}): "
                        "give a writable --runs-dir with free space") from None


def open_study(run: SearchRun) -> optuna.Study:
    """Create the study once (or load it); refuse a direction or metric that disagrees with the stored one."""
    return create_or_load(run)[0]


def create_or_load(run: SearchRun) -> tuple[optuna.Study, bool]:
    """:func:`open_study`, and whether this launch created the study: the storage lets only one of
    several launches started at once create it, so only that one enqueues the start points."""
    storage = open_storage(run.storage, heartbeat_interval=run.cfg.study.heartbeat_interval,
                           grace_period=run.cfg.study.grace_period)
    try:
        study = optuna.create_study(study_name=run.study_name, storage=storage, direction=run.cfg.study.direction)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study, created = optuna.load_study(study_name=run.study_name, storage=storage), False
    if study.direction.name.lower() != run.cfg.study.direction:
        raise UserError(
            f"study {run.study_name} in {run.storage} is {study.direction.name.lower()} but "
            f"{run.cfg.path} says {run.cfg.study.direction}: use another --study-name"
        )
    stored = study.user_attrs.get("metric")
    if stored is not None and stored != run.cfg.study.metric:
        raise UserError(
            f"study {run.study_name} in {run.storage} ranks trials by {stored} but {run.cfg.path} says "
            f"study.metric: {run.cfg.study.metric}: set it back to {stored}, or use another --study-name"
        )
    study.set_user_attr("metric", run.cfg.study.metric)
    study.set_user_attr("search_config", str(run.cfg.path.resolve()))
    study.set_user_attr("cwd", os.getcwd())  # relative paths in trial configs (data.store) start here
    return study, created


def make_jobs(run: SearchRun, study: optuna.Study) -> list[WorkerJob]:
    """One job per slot. Every worker gets the same base seed: each trial's sampler draws are
    seeded from (base, trial number), unique across every launch on this storage."""
    deadline = None if run.timeout is None else run.started + run.timeout
    seed = study_lib.sampler_base_seed(run.cfg.study.sampler, run.cfg.study.seed)
    return [
        WorkerJob(config_path=str(run.cfg.path), storage=run.storage, study_name=run.study_name,
                  n_trials=run.n_trials, deadline=deadline, slot=slot, runs_dir=str(run.runs_dir),
                  n_workers=len(run.slots), sampler_seed=seed, parent_pid=os.getpid())
        for slot in run.slots
    ]


def run_search(run: SearchRun, factory: ObjectiveFactory, *, refit_fit: FitFn | None = None) -> optuna.Study:
    """Run the search to its trial count (or deadline), then refit its best trial when
    ``study.refit`` asks for it (``refit_fit``: the fit the refit calls, ``run_fit`` by default)."""
    study, created = create_or_load(run)
    stale = recover_stale(study, single_host=not is_rdb(run.storage))
    if stale:
        print(f"failed {len(stale)} stale RUNNING trial(s) {stale} of a killed run; retrying them once",
              flush=True)
    keeper = budget_keeper(run, study)
    if study_lib.n_counted(study) < run.n_trials:
        if created:
            for line in enqueue_start(run, study):
                print(line, flush=True)
        run_trials(run, study, factory, keeper)
    if run.cfg.study.refit is not None and refit_of(study) is None and best_trial(study) is not None:
        refit_best(run, study, refit_fit, keeper)
    return study


def _trial_epochs(cfg: SearchConfig) -> int:
    epochs = get_dotted(base_fit_config(cfg), "trainer.max_epochs")[1]
    return epochs if isinstance(epochs, int) and epochs > 0 else 1


def _refit_epochs(cfg: SearchConfig) -> int:
    """Epochs ``study.refit`` asks for (the trials' own when it names none); 0 without a refit."""
    if cfg.study.refit is None:
        return 0
    return int(cfg.study.refit.get(MAX_EPOCHS) or _trial_epochs(cfg))


def budget_keeper(run: SearchRun, study: optuna.Study) -> BudgetKeeper | None:
    """The plan of a run with a ``--timeout`` (``None`` without one), published before any worker starts."""
    if run.timeout is None:
        return None
    keeper = BudgetKeeper(study, end=run.started + run.timeout, timeout=run.timeout,
                          trial_epochs=_trial_epochs(run.cfg), refit_epochs=_refit_epochs(run.cfg),
                          n_trials=run.n_trials, n_slots=len(run.slots), launch_tag=worker_tag())
    keeper.tick()
    return keeper


def refit_best(run: SearchRun, study: optuna.Study, fit: FitFn | None, keeper: BudgetKeeper | None) -> None:
    """Train the best trial again at ``study.refit``'s budget and test it; say so before and after.
    Under a ``--timeout`` it gets the epochs that fit in what is left (a note says when that is fewer)."""
    best = best_trial(study)
    settings, note = dict(run.cfg.study.refit or {}), ""
    if keeper is not None:
        epochs, note = refit_epochs_within(keeper.end, keeper.tick().epoch_s, _refit_epochs(run.cfg))
        left = keeper.end - time.time()
        settings.update({MAX_EPOCHS: epochs, "trainer.max_time": {"seconds": max(1, int(left * (1 - TEST_SHARE)))}})
    print(f"refitting trial {best.number} ({run.cfg.study.metric} {best.value:.4f}) with {settings}"
          f"{'; ' + note if note else ''}; it logs to {refit_dir(best, study) / REFIT_LOG}", flush=True)
    print(refit_text(run_refit(study, settings, note=note, fit=fit)), flush=True)


def run_trials(run: SearchRun, study: optuna.Study, factory: ObjectiveFactory, keeper: BudgetKeeper | None) -> None:
    """Run the workers until the study has its count, the deadline passed or (under a ``--timeout``)
    the refit's share of the budget began."""
    jobs = make_jobs(run, study)
    progress = Progress(study, run.n_trials, run.cfg.study.metric)
    procs, errors = spawn_workers(jobs, factory)
    try:
        _watch(procs, jobs, errors, factory, study, progress, keeper)
    finally:
        stop_all(procs)
        recover_stale(study, single_host=not is_rdb(run.storage))
        progress.close()


def enqueue_start(run: SearchRun, study: optuna.Study) -> list[str]:
    """Enqueue the fit config's own values (``study.start_from_fit_config``) and ``study.enqueue``'s
    points when the study is created, so they are its first trials (a rerun does not add them again)."""
    points = start_points(run.cfg.space, base_fit_config(run.cfg), from_fit_config=run.cfg.study.start_from_fit_config,
                          enqueue=run.cfg.study.enqueue)
    return enqueue_points(study, points)


def _watch(procs: list[Any], jobs: list[WorkerJob], errors: Any, factory: ObjectiveFactory,
           study: optuna.Study, progress: Progress, keeper: BudgetKeeper | None = None) -> None:
    """Wait for workers; stop all on a config error; restart crashed ones; return when the refit is due."""
    restarts = [0] * len(procs)
    finished = [False] * len(procs)
    next_sweep = time.monotonic() + SWEEP_S
    while not all(finished):
        if keeper is not None and keeper.refit_due():
            running = [p for p, done in zip(procs, finished) if not done and p.is_alive()]
            if running:
                why = "the rest of the --timeout budget is the refit's" if keeper.sizes["refit_epochs"] else \
                    "the --timeout budget is spent"
                progress.note(f"stopping {len(running)} running trial(s): {why} (a later run retries them once)")
            return
        for i, proc in enumerate(procs):
            if finished[i] or proc.is_alive():
                continue
            if proc.exitcode == EXIT_USER_ERROR:
                message = errors.get() if not errors.empty() else "a worker stopped on a configuration error"
                raise UserError(message)  # run_search's finally stops the other workers
            if proc.exitcode == 0 or study_lib.n_counted(study) >= jobs[i].n_trials:
                finished[i] = True
                continue
            log = death_log(study, proc.pid, jobs[i])
            if restarts[i] >= MAX_RESTARTS:
                raise WorkerKeepsDying(f"worker {jobs[i].slot.label} died {restarts[i] + 1} times, the last "
                                       f"time with {exit_text(proc.exitcode)}: read {log}")
            restarts[i] += 1
            progress.note(f"worker {jobs[i].slot.label} died ({exit_text(proc.exitcode)}; see {log}); restarting it")
            # Only the dead worker's own trials: an untagged one may be a live peer's, just asked for.
            recover_stale(study, single_host=not is_rdb(jobs[i].storage), tag=worker_tag(proc.pid))
            procs[i] = respawn(jobs[i], factory, errors)
        if time.monotonic() >= next_sweep:  # a worker that died before tagging its trial left it untagged
            stale = recover_stale(study, single_host=not is_rdb(jobs[0].storage))
            if stale:
                progress.note(f"failed stale RUNNING trial(s) {stale} of a dead worker; retrying them once")
            next_sweep = time.monotonic() + SWEEP_S
        progress.poll()
        time.sleep(POLL_S)


def exit_text(code: int | None) -> str:
    """``exit code 1`` or ``exit code -9 (SIGKILL)``."""
    if code is not None and code < 0:
        try:
            return f"exit code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"exit code {code}"


def death_log(study: optuna.Study, pid: int, job: WorkerJob) -> Path:
    """The log that tells why worker ``pid`` died: its last trial's ``trial.log``, else the worker's."""
    tag = worker_tag(pid)
    mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(WORKER_ATTR) == tag]
    last = max(mine, key=lambda t: t.number, default=None)
    if last is not None and last.user_attrs.get(RUN_DIR):
        log = Path(str(last.user_attrs[RUN_DIR])) / TRIAL_LOG
        if log.is_file():
            return log
    return job.log
