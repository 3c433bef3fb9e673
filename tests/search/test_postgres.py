"""Two searches (as on two hosts) share one PostgreSQL study; a killed one's trial is recovered by heartbeat.

Needs a server: set AUTOLIT_TEST_POSTGRES_URL (e.g. postgresql://autolit:autolit@127.0.0.1:5432/autolit_test).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.search import search_stubs
from tests.search.search_configs import FIT, write_configs

URL = os.environ.get("AUTOLIT_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not URL, reason="AUTOLIT_TEST_POSTGRES_URL is not set (a PostgreSQL URL for tests)"),
]


def _cli(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(search_stubs.__file__)), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _study(name: str) -> optuna.Study:
    from autolit.search.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(URL, heartbeat_interval=1, grace_period=3))


def test_two_hosts_share_study_and_heartbeat_recovers_killed_trial(tmp_path):
    name = f"pg-{uuid.uuid4().hex[:8]}"
    fit = {**FIT, "stub": {"sleep": 0.5, "epochs": 3}}
    path = write_configs(tmp_path, fit=fit, study={"heartbeat_interval": 1, "grace_period": 3,
                                                   "pruner": {"type": "NopPruner"}})
    args = ["--config", str(path), "--n-trials", "6", "--devices", "cpu:1", "--storage", URL,
            "--study-name", name, "--runs-dir", str(tmp_path / "runs")]
    host_a = _cli(args)
    victim = None
    deadline = time.time() + 120
    while victim is None and time.time() < deadline:  # wait for host A's worker to run a trial
        time.sleep(0.3)
        try:
            running = _study(name).get_trials(states=(TrialState.RUNNING,))
        except KeyError:
            continue
        for t in running:
            pid = int(str(t.user_attrs.get("worker", "x:0")).rsplit(":", 1)[1])
            if pid and os.getpgid(pid) == host_a.pid:
                victim = t.number
    assert victim is not None, "host A never started a trial"
    host_b = _cli(args)  # the second "host" joins the running study
    time.sleep(1.0)
    os.killpg(host_a.pid, signal.SIGKILL)  # host A dies mid-trial, without any cleanup
    host_a.communicate()
    out, err = host_b.communicate(timeout=150)
    assert host_b.returncode == 0, err[-2000:]
    trials = _study(name).get_trials()
    assert trials[victim].state == TrialState.FAIL
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim]
    # the heartbeat (not a restart) failed it while B ran, so B also ran its retry to the end
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[victim].params
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= 6
    optuna.delete_study(study_name=name, storage=_study(name)._storage)


def test_report_and_status_read_a_postgresql_study(tmp_path):
    from tests.search.synthetic_study import make_study

    name = f"pg-report-{uuid.uuid4().hex[:8]}"
    study = make_study(_study_storage(), name, 30)
    try:
        out = tmp_path / "report"
        proc = subprocess.run([sys.executable, "-m", "autolit.search", "report", "--storage", URL, "--study-name",
                               name, "--out", str(out)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.startswith("report of 30 trials") and (out / "index.html").is_file()
        assert len((out / "trials.csv").read_text().splitlines()) == 31
        status = subprocess.run([sys.executable, "-m", "autolit.search", "status", "--storage", URL, "--study-name",
                                 name], capture_output=True, text=True, timeout=120)
        assert status.returncode == 0 and "running:" in status.stdout, status.stderr[-2000:]
    finally:
        optuna.delete_study(study_name=name, storage=study._storage)


def _study_storage():
    from autolit.search.storage import open_storage

    return open_storage(URL)
