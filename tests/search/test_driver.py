"""The driver: worker restarts and reopening a study (autolit/search/run/driver.py)."""

from __future__ import annotations

import os
import socket
from types import SimpleNamespace

import pytest
from optuna.trial import TrialState

from autolit.errors import UserError
from autolit.search.run.devices import parse_devices
from tests.search.search_configs import write_configs
from tests.search.synthetic_study import journal_study


def test_a_worker_restart_leaves_a_live_peers_untagged_trial_running(tmp_path, monkeypatch):
    """The driver restarting a dead worker used to fail every untagged RUNNING trial: a live peer's
    trial between ask() and its tag, whose next write then crashed that healthy peer."""
    from autolit.search.run import driver
    from autolit.search.run.devices import Slot
    from autolit.search.run.worker import WorkerJob

    study = journal_study(tmp_path)
    dead_pid = 999_999_997
    dead = study.ask()
    dead.suggest_float("lr", 1e-3, 1e-1, log=True)
    dead.set_user_attr("worker", f"{socket.gethostname()}:{dead_pid}")
    peer = study.ask()  # just asked by a live peer, not tagged yet

    class Proc:
        def __init__(self, pid, code):
            self.pid, self.exitcode = pid, code

        def is_alive(self):
            return False

    slot = Slot(index=0, accelerator="cpu")
    job = WorkerJob(config_path="s.yaml", storage=str(tmp_path / "j.log"), study_name="s", n_trials=5,
                    deadline=None, slot=slot, runs_dir=str(tmp_path), n_workers=2, sampler_seed=0,
                    parent_pid=os.getpid())
    monkeypatch.setattr(driver, "respawn", lambda *a: Proc(1, 0))
    monkeypatch.setattr(driver, "POLL_S", 0.0)
    progress = SimpleNamespace(note=lambda line: None, poll=lambda: None)
    driver._watch([Proc(dead_pid, -9)], [job], None, None, study, progress)
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    assert trials[peer.number].state == TrialState.RUNNING
    assert trials[-1].user_attrs.get("retry_of") == dead.number  # the dead one's retry is queued


def test_resuming_with_another_metric_is_refused(tmp_path):
    """The stored study ranks by its metric: mixing val/acc and val/loss values would be silent nonsense."""
    from pathlib import Path

    from autolit.search.config import load_search_config
    from autolit.search.run.driver import SearchRun, open_study

    def run(metric):
        path = write_configs(tmp_path, study={"metric": metric, "direction": "maximize"})
        return SearchRun(cfg=load_search_config(path), storage=str(tmp_path / "j.log"), study_name="s",
                         n_trials=2, timeout=None, slots=parse_devices("cpu:1", cores=1), runs_dir=Path(tmp_path))

    assert open_study(run("val/acc")).user_attrs["metric"] == "val/acc"
    # golden: this room's one test of a whole message, word for word (tests/errors.py)
    with pytest.raises(UserError, match=r"study s in .*j\.log ranks trials by val/acc but .*search\.yaml says "
                                        r"study\.metric: val/loss: set it back to val/acc, or use another --study-name"):
        open_study(run("val/loss"))
    assert open_study(run("val/acc")).user_attrs["metric"] == "val/acc"
