"""Worker processes: one per device slot, each looping one trial at a time.

There is no batch barrier: a worker starts its next trial as soon as its last one ends, until the
study holds ``n_trials`` counted trials (complete, pruned, or failed with a reason) or the
deadline passes. Workers are started with the ``spawn`` context and the slot's environment
(``CUDA_VISIBLE_DEVICES`` …) already set, so a child sees only its GPU from its first import of
torch. A :class:`~autolit.errors.UserError` in any worker stops the whole search (exit 2).
A worker dies with the driver (:func:`~autolit.system.die_with_parent`, SIGTERM) and writes its
output to ``worker-<slot>.log`` and each trial's ``trial.log``, never to the driver's terminal.
"""

from __future__ import annotations

import faulthandler
import multiprocessing as mp
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from autolit.errors import UserError
from autolit.search import study as study_lib
from autolit.search.config import SearchConfig, load_search_config
from autolit.search.run.devices import Slot
from autolit.search.run.lifetime import redirect_output
from autolit.system import die_with_parent
from autolit.search.records import worker_log
from autolit.search.run.budget import deadline_attr
from autolit.search.storage import is_rdb, open_storage, worker_tag

ObjectiveFactory = Callable[[SearchConfig, Slot, Path], Callable[[optuna.Trial], float]]
EXIT_USER_ERROR = 2
POLL_S = 0.5
STOP_GRACE_S = 10.0  # how long stopped workers get to fail their trials before SIGKILL


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs; plain values so the spawn context can send it."""

    config_path: str
    storage: str
    study_name: str
    n_trials: int
    deadline: float | None       # time.time() after which no new trial starts
    slot: Slot
    runs_dir: str
    n_workers: int
    sampler_seed: int            # the base of every trial's sampler seed (study.seed_per_trial)
    parent_pid: int

    @property
    def log(self) -> Path:
        """This worker's own log (what it prints outside trials, a crash's traceback)."""
        return worker_log(self.runs_dir, self.study_name, self.slot.label)


def worker_main(job: WorkerJob, factory: ObjectiveFactory, errors: Any) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    die_with_parent(job.parent_pid, signal.SIGTERM)
    sys.argv = sys.argv[:1]  # the parent's CLI flags are not this process's (LightningCLI reads argv)
    try:
        redirect_output(job.log)
        faulthandler.enable()  # a hard crash (segfault, abort) leaves its Python stack in the log
        run_worker(job, factory)
    except UserError as exc:
        errors.put(str(exc))
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        sys.exit(130)


def _raise_interrupt(signum: int, frame: Any) -> None:
    # Optuna marks the running trial FAIL on KeyboardInterrupt before re-raising it.
    raise KeyboardInterrupt


def run_worker(job: WorkerJob, factory: ObjectiveFactory) -> None:
    """Loop trials until the study has its count."""
    _set_threads(job.slot.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = load_search_config(job.config_path)
    storage = open_storage(job.storage, heartbeat_interval=cfg.study.heartbeat_interval,
                           grace_period=cfg.study.grace_period)
    sampler = worker_sampler(job, cfg)
    study = optuna.load_study(study_name=job.study_name, storage=storage, sampler=sampler,
                              pruner=study_lib.make_pruner(cfg.study.pruner))
    objective = factory(cfg, job.slot, Path(job.runs_dir))
    while _should_continue(job, study):
        study.optimize(objective, n_trials=1, catch=(study_lib.TrialFailed,), gc_after_trial=True)


def worker_sampler(job: WorkerJob, cfg: SearchConfig) -> optuna.samplers.BaseSampler:
    """The worker's sampler; parallel (TPE's constant_liar) beside other workers of this launch, and
    always on PostgreSQL, where workers on other hosts run trials at the same time."""
    parallel = job.n_workers > 1 or is_rdb(job.storage)
    return study_lib.make_sampler(cfg.study.sampler, seed=job.sampler_seed, parallel=parallel)


def _set_threads(threads: int) -> None:
    import torch  # after the parent set CUDA_VISIBLE_DEVICES for this process

    torch.set_num_threads(threads)


def _should_continue(job: WorkerJob, study: optuna.Study) -> bool:
    """Wait while the remaining budget is held by running trials; stop when none is left, or when the
    driver's budget plan says no trial may start any more (:mod:`autolit.search.run.budget`)."""
    while True:
        if os.getppid() != job.parent_pid or (job.deadline is not None and time.time() >= _last_start(job, study)):
            return False
        done = study_lib.n_counted(study)
        if done >= job.n_trials:
            return False
        running = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
        if done + running < job.n_trials:
            return True
        if is_rdb(job.storage):
            optuna.storages.fail_stale_trials(study)  # a dead peer's trial must not block us forever
        # Jitter so workers freed together do not all start the last trial at once.
        time.sleep(POLL_S * (1 + random.random()))


def _last_start(job: WorkerJob, study: optuna.Study) -> float:
    """The earlier of the job's deadline and the last trial start the driver planned for this launch."""
    planned = study.user_attrs.get(deadline_attr(worker_tag(job.parent_pid)))
    return min(job.deadline, float(planned)) if isinstance(planned, (int, float)) else job.deadline


def spawn_workers(jobs: list[WorkerJob], factory: ObjectiveFactory) -> tuple[list[Any], Any]:
    """Start one spawned process per job, each with its slot's environment."""
    errors = mp.get_context("spawn").SimpleQueue()
    return [respawn(job, factory, errors) for job in jobs], errors


def respawn(job: WorkerJob, factory: ObjectiveFactory, errors: Any) -> Any:
    """Start one worker process for ``job``."""
    proc = mp.get_context("spawn").Process(target=worker_main, args=(job, factory, errors),
                                           name=f"autolit-{job.slot.label}")
    with _environ(job.slot.env):
        proc.start()
    return proc


class _environ:
    """Temporarily set environment variables (the spawned child copies them at start)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.env.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stop_all(procs: list[Any]) -> None:
    """SIGTERM live workers (their running trials end FAIL), then SIGKILL stragglers."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    end = time.time() + STOP_GRACE_S
    for proc in procs:
        proc.join(max(0.0, end - time.time()))
        if proc.is_alive():
            proc.kill()
            proc.join()
