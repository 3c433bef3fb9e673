"""The job table's rules, without a server: a job is claimed once, ended states hold, reconcile."""

from __future__ import annotations

import subprocess
import sys
import threading

from autolit.serve.models import FINAL, RESUMABLE, State
from autolit.serve.runner import process_start, reconcile
from autolit.serve.table import JobTable


def test_a_queued_job_is_claimed_by_exactly_one_of_many_threads(tmp_path):
    table = JobTable(tmp_path / "jobs.sqlite")
    job = table.insert("fit", "x", tmp_path / "x")
    wins, start = [], threading.Barrier(16)

    def claim() -> None:
        start.wait()
        wins.append(table.transition(job, State.running, when=[State.queued], attempt=1))
    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1 and table.get(job)["state"] == "running"


def test_final_states_never_change_and_only_resumable_ones_resume(tmp_path):
    table = JobTable(tmp_path / "jobs.sqlite")
    for final in FINAL:
        job = table.insert("fit", "x", tmp_path / "x")
        table.transition(job, State.running, when=[State.queued])
        assert table.transition(job, final, when=[State.running])
        for target in State:
            assert not table.transition(job, target, when=RESUMABLE) and table.get(job)["state"] == final.value
    events = table.events_after(0)
    assert [e["id"] for e in events] == sorted({e["id"] for e in events})  # one id each, increasing


def test_reconcile_marks_jobs_whose_process_is_gone_interrupted(tmp_path):
    table = JobTable(tmp_path / "jobs.sqlite")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    start = process_start(gone.pid)
    gone.wait()
    job = table.insert("fit", "x", tmp_path / "x")
    table.transition(job, State.running, when=[State.queued], pid=gone.pid, pid_start=start)
    queued = table.insert("fit", "y", tmp_path / "y")
    assert reconcile(table) == [job]
    assert table.get(job)["state"] == "interrupted" and table.get(job)["pid"] is None
    assert table.get(queued)["state"] == "queued"  # waits for the runner
