"""The parent side of a search: create the study once, start workers, watch them, report.

The parent creates the study (``load_if_exists``) and fails the stale RUNNING trials of earlier
runs before any worker starts, so workers only ever load it. It restarts a worker that crashed
(not one that stopped on a config error) at most ``MAX_RESTARTS`` times per slot.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from autolit.errors import UserError
from autolit.search import study as study_lib
from autolit.search.config import SearchConfig
from autolit.search.devices import Slot
from autolit.search.storage import is_rdb, open_storage, recover_stale
from autolit.search.worker import EXIT_USER_ERROR, ObjectiveFactory, WorkerJob, respawn, spawn_workers, stop_all

MAX_RESTARTS = 2


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


def open_study(run: SearchRun) -> optuna.Study:
    """Create the study once (or load it); refuse a direction that disagrees with the stored one."""
    storage = open_storage(run.storage, heartbeat_interval=run.cfg.study.heartbeat_interval,
                           grace_period=run.cfg.study.grace_period)
    study = optuna.create_study(study_name=run.study_name, storage=storage,
                                direction=run.cfg.study.direction, load_if_exists=True)
    if study.direction.name.lower() != run.cfg.study.direction:
        raise UserError(
            f"study {run.study_name} in {run.storage} is {study.direction.name.lower()} but "
            f"{run.cfg.path} says {run.cfg.study.direction}: use another --study-name"
        )
    study.set_user_attr("metric", run.cfg.study.metric)
    study.set_user_attr("search_config", str(run.cfg.path.resolve()))
    return study


def make_jobs(run: SearchRun, study: optuna.Study) -> list[WorkerJob]:
    """One job per slot; sampler seeds differ per worker and per restart of the search."""
    deadline = None if run.timeout is None else time.time() + run.timeout
    # Random startup samples must not repeat across workers or across restarts of the same study.
    seed = study_lib.sampler_base_seed(run.cfg.study.sampler, run.cfg.study.seed)
    base = seed * 1000 + len(study.trials) * 7919
    return [
        WorkerJob(config_path=str(run.cfg.path), storage=run.storage, study_name=run.study_name,
                  n_trials=run.n_trials, deadline=deadline, slot=slot, runs_dir=str(run.runs_dir),
                  n_workers=len(run.slots), sampler_seed=base + slot.index, parent_pid=os.getpid())
        for slot in run.slots
    ]


def run_search(run: SearchRun, factory: ObjectiveFactory) -> optuna.Study:
    """Run the search to its trial count (or deadline); return the study."""
    study = open_study(run)
    stale = recover_stale(study, single_host=not is_rdb(run.storage))
    if stale:
        print(f"failed {len(stale)} stale RUNNING trial(s) {stale} of a killed run; retrying them once",
              flush=True)
    if study_lib.n_counted(study) >= run.n_trials:
        return study
    jobs = make_jobs(run, study)
    procs, errors = spawn_workers(jobs, factory)
    try:
        _watch(procs, jobs, errors, factory, study)
    finally:
        stop_all(procs)
        recover_stale(study, single_host=not is_rdb(run.storage))
    return study


def _watch(procs: list[Any], jobs: list[WorkerJob], errors: Any, factory: ObjectiveFactory,
           study: optuna.Study) -> None:
    """Wait for workers; stop all on a config error; restart crashed ones."""
    restarts = [0] * len(procs)
    finished = [False] * len(procs)
    while not all(finished):
        for i, proc in enumerate(procs):
            if finished[i] or proc.is_alive():
                continue
            if proc.exitcode == EXIT_USER_ERROR:
                message = errors.get() if not errors.empty() else "a worker stopped on a configuration error"
                raise UserError(message)  # run_search's finally stops the other workers
            if proc.exitcode == 0 or study_lib.n_counted(study) >= jobs[i].n_trials:
                finished[i] = True
                continue
            if restarts[i] >= MAX_RESTARTS:
                raise RuntimeError(f"worker {jobs[i].slot.label} died (exit {proc.exitcode}) {restarts[i] + 1} times")
            restarts[i] += 1
            print(f"worker {jobs[i].slot.label} died (exit {proc.exitcode}); restarting it", flush=True)
            recover_stale(study, single_host=not is_rdb(jobs[i].storage))
            procs[i] = respawn(jobs[i], factory, errors)
        time.sleep(0.5)
