"""Stop, resume and a killed server, through HTTP against the real server and real fit processes."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time

import pytest
import torch

from tests.serve.server import Server, group_alive, job_request, tiny_fit, wait_for

pytestmark = pytest.mark.slow
GRACE_S = 30


@pytest.fixture(scope="module")
def slow_store(tmp_path_factory, data_root):
    """A store big enough that an epoch at batch size 4 lasts seconds (a stop lands inside one)."""
    from tests.synthetic import write_store

    return write_store(data_root / "slow", n=600)


def _three_epochs(store) -> dict:
    """Three epochs of a few seconds each at batch size 4: a stop or a kill lands inside one."""
    config = tiny_fit(store, max_epochs=3, num_sanity_val_steps=0, limit_val_batches=5, limit_test_batches=2,
                      enable_model_summary=False)
    config["data"]["batch_size"] = 4
    return config


def _last(job: dict):
    path = os.path.join(job["run_dir"], "checkpoints", "last.ckpt") if job["run_dir"] else None
    return path if path and os.path.isfile(path) else None


def _wait_last(client, job_id: int, timeout: float = 180) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        if _last(job):
            return job
        assert job["state"] in ("queued", "running"), job
        time.sleep(0.2)
    raise AssertionError("no last.ckpt after the first epoch")


def test_stop_in_epoch_two_then_resume_continues(tmp_path, data_root, slow_store):
    server = Server(tmp_path / "home", data_root, "--grace", str(GRACE_S)).start()
    try:
        with server.client() as client:
            job = client.post("/api/jobs", json=job_request(_three_epochs(slow_store), "stoppable")).json()
            _wait_last(client, job["id"])  # epoch 1 ended: the fit is in epoch 2
            assert client.delete(f"/api/jobs/{job['id']}").status_code == 409  # not while it runs
            assert client.post(f"/api/jobs/{job['id']}/resume").status_code == 409
            asked = time.monotonic()
            assert client.post(f"/api/jobs/{job['id']}/stop").json()["state"] in ("stopping", "stopped")
            stopped = wait_for(client, job["id"], {"stopped", "succeeded", "failed"}, timeout=GRACE_S + 10)
            assert stopped["state"] == "stopped" and time.monotonic() - asked < GRACE_S, stopped
            assert client.post(f"/api/jobs/{job['id']}/stop").status_code == 409  # ended
            state = torch.load(_last(stopped), weights_only=True, map_location="cpu")
            assert state["epoch"] == 1  # saved where it stopped, in the second epoch
            before = len(client.get(f"/api/jobs/{job['id']}/metrics").json()["points"])

            assert client.post(f"/api/jobs/{job['id']}/resume").json()["state"] == "queued"
            done = wait_for(client, job["id"], {"succeeded", "failed", "stopped"})
            assert done["state"] == "succeeded" and done["attempt"] == 2, done
            log = client.get(f"/api/jobs/{job['id']}/log").json()["text"]
            assert re.search(r"== attempt 2: .*--ckpt_path last", log)
            assert "Restoring states from the checkpoint path at" in log.split("== attempt 2")[1]
            points = client.get(f"/api/jobs/{job['id']}/metrics").json()["points"]
            resumed_epochs = [p["value"] for p in points[before:] if p["tag"] == "epoch"]
            assert resumed_epochs and min(resumed_epochs) == 1  # went on in epoch 2, not from 0
            assert done["test_metrics"] and "test/acc" in done["test_metrics"]
    finally:
        server.stop()


def test_a_killed_or_stopped_server_leaves_no_job_and_the_job_resumes(tmp_path, data_root, slow_store):
    home = tmp_path / "home"
    server = Server(home, data_root).start()
    try:
        with server.client() as client:
            job = client.post("/api/jobs", json=job_request(_three_epochs(slow_store), "orphan")).json()
            running = _wait_last(client, job["id"])
    except BaseException:
        server.stop()
        raise
    pgid = running["pid"]
    assert pgid and group_alive(pgid)
    server.kill()
    end = time.monotonic() + 10
    while group_alive(pgid) and time.monotonic() < end:
        time.sleep(0.1)
    assert not group_alive(pgid), "the job's processes outlived the server by 10 s"

    again, third = Server(home, data_root).start(), None
    try:
        with again.client() as client:
            seen = client.get(f"/api/jobs/{job['id']}").json()
            assert seen["state"] == "interrupted" and seen["pid"] is None, seen
            before = len(client.get(f"/api/jobs/{job['id']}/metrics").json()["points"])
            assert client.post(f"/api/jobs/{job['id']}/resume").status_code == 200
            end = time.monotonic() + 180
            while len(client.get(f"/api/jobs/{job['id']}/metrics").json()["points"]) < before + 3:
                assert time.monotonic() < end, "attempt 2 did not start training"
                time.sleep(0.3)
            second = client.get(f"/api/jobs/{job['id']}").json()
        again.stop()  # Ctrl-C: the server stops its jobs (SIGTERM) and marks them interrupted itself
        assert not group_alive(second["pid"])
        db = sqlite3.connect(home / "jobs.sqlite")
        assert db.execute("SELECT state FROM jobs WHERE id = ?", (job["id"],)).fetchone()[0] == "interrupted"
        db.close()
        last_line = open(f"{second['folder']}/job.log").read().rstrip().splitlines()[-1]
        assert last_line == "interrupted"  # the fit's own clean stop on SIGTERM (exit 130), not a SIGKILL
        third = Server(home, data_root).start()
        with third.client() as client:
            assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "interrupted"
            assert client.post(f"/api/jobs/{job['id']}/resume").status_code == 200
            done = wait_for(client, job["id"], {"succeeded", "failed", "stopped"})
            assert done["state"] == "succeeded" and done["attempt"] == 3, done
    finally:
        again.stop()
        if third is not None:
            third.stop()
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
