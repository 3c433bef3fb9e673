"""Storage URLs and stale-trial recovery (autolit/search/storage.py)."""

from __future__ import annotations

import os
import socket

import pytest
from optuna.trial import TrialState

from autolit.errors import UserError
from autolit.search.storage import check_storage, recover_stale
from tests.search.synthetic_study import journal_study


def test_sqlite_and_unknown_urls_refused():
    with pytest.raises(UserError, match=r"--storage sqlite:///a\.db: SQLite locks up under parallel workers"):
        check_storage("sqlite:///a.db")
    with pytest.raises(UserError, match=r"unsupported URL scheme"):
        check_storage("mysql://x/y")
    assert check_storage("postgres://u@h/db") == "postgresql://u@h/db"


def test_recover_stale_fails_dead_workers_trials_and_retries_once(tmp_path):
    study = journal_study(tmp_path)
    host = socket.gethostname()
    dead, alive = study.ask(), study.ask()
    for trial, pid in ((dead, 999_999_999), (alive, os.getpid())):
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        trial.set_user_attr("worker", f"{host}:{pid}")
    assert recover_stale(study) == [dead.number]
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    assert trials[alive.number].state == TrialState.RUNNING  # a live worker's trial is kept
    retry = trials[-1]
    assert retry.state == TrialState.WAITING and retry.user_attrs["retry_of"] == dead.number
    # the retry itself dying is not retried again
    popped = study.ask()
    assert popped.number == retry.number
    assert popped.suggest_float("lr", 1e-3, 1e-1, log=True) == dead.params["lr"]  # same params
    popped.set_user_attr("worker", f"{host}:999999999")
    assert recover_stale(study) == [popped.number]
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 0


def test_recover_stale_tells_a_reused_pid_from_the_worker_that_had_it(tmp_path):
    """After a crash or a reboot another process may have the dead worker's pid: still stale."""
    from autolit.search.storage import process_identity

    study = journal_study(tmp_path)
    host = socket.gethostname()
    reused, mine = study.ask(), study.ask()
    for trial, identity in ((reused, "another-boot:12345"), (mine, process_identity())):
        trial.set_user_attr("worker", f"{host}:{os.getpid()}")  # a live pid: this test's
        trial.set_user_attr("worker_process", identity)
    assert process_identity() is not None
    assert recover_stale(study) == [reused.number]
    assert study.get_trials()[mine.number].state == TrialState.RUNNING


def test_recover_stale_leaves_a_just_asked_untagged_trial_to_its_worker(tmp_path):
    """A trial is RUNNING from ask(); its worker tags it a write later: untagged is not yet stale."""
    study = journal_study(tmp_path)
    asked = study.ask()
    assert recover_stale(study) == []
    assert study.get_trials()[asked.number].state == TrialState.RUNNING
    assert recover_stale(study, untagged_after_s=0.0) == [asked.number]  # untagged that long: its worker died


def test_recover_stale_with_a_tag_fails_only_that_workers_trials(tmp_path):
    study = journal_study(tmp_path)
    host = socket.gethostname()
    mine, other, untagged = study.ask(), study.ask(), study.ask()
    mine.set_user_attr("worker", f"{host}:999999998")
    other.set_user_attr("worker", f"{host}:999999999")  # dead too, but not the one the driver saw die
    assert recover_stale(study, tag=f"{host}:999999998", untagged_after_s=0.0) == [mine.number]
    states = [t.state for t in study.get_trials()]
    assert states[other.number] == states[untagged.number] == TrialState.RUNNING
