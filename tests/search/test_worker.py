"""A worker's sampler (autolit/search/run/worker.py)."""

from __future__ import annotations

import os

import pytest


@pytest.mark.parametrize("storage, n_workers, liar", [
    ("j.log", 1, False), ("j.log", 2, True), ("postgresql://u@h/db", 1, True)])
def test_constant_liar_whenever_trials_may_run_in_parallel(search_yaml, storage, n_workers, liar):
    """PostgreSQL: workers of other hosts' launches run beside this one's single worker."""
    from autolit.search.config import load_search_config
    from autolit.search.run.devices import Slot
    from autolit.search.run.worker import WorkerJob, worker_sampler

    job = WorkerJob(config_path=str(search_yaml), storage=storage, study_name="s", n_trials=2, deadline=None,
                    slot=Slot(index=0, accelerator="cpu"), runs_dir="runs", n_workers=n_workers,
                    sampler_seed=0, parent_pid=os.getpid())
    assert worker_sampler(job, load_search_config(search_yaml))._constant_liar is liar
