"""Many jobs from many clients at once (slots 2): none lost, none run twice, the table agrees with
the processes; a job that fails shows the CLI's one error line. The 200-job version with timings
is ``python scripts/bench_serve.py``."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serve.server import Server, group_alive, job_request, tiny_fit

pytestmark = pytest.mark.slow
JOBS, CLIENTS, SLOTS = 8, 8, 2


def cheap_fit(store) -> dict:
    return tiny_fit(store, limit_train_batches=2, limit_val_batches=1, limit_test_batches=1,
                    num_sanity_val_steps=0, enable_model_summary=False)


def test_jobs_from_concurrent_clients_each_run_once(tmp_path, data_root):
    server = Server(tmp_path / "home", data_root, "--slots", str(SLOTS)).start()
    try:
        config = cheap_fit(data_root / "tiny")
        failing = cheap_fit(data_root / "tiny")
        failing["model"]["task"] = "binary"  # passes the checks, refused once the 3-label store is read

        def submit(i: int) -> int:
            with server.client() as client:
                answer = client.post("/api/jobs", json=job_request(failing if i == 0 else config, f"load-{i}"))
                assert answer.status_code == 201, answer.text
                return answer.json()["id"]

        with ThreadPoolExecutor(CLIENTS) as pool:
            ids = list(pool.map(submit, range(JOBS)))
        assert len(set(ids)) == JOBS

        with server.client() as client:
            end = time.monotonic() + 600
            while time.monotonic() < end:
                running = client.get("/api/jobs", params={"state": ["running", "stopping"]}).json()["jobs"]
                assert len(running) <= SLOTS
                for job in running:  # a job shown running has a live process
                    assert job["pid"] is None or group_alive(job["pid"]) or \
                        client.get(f"/api/jobs/{job['id']}").json()["state"] != "running"
                listed = client.get("/api/jobs", params={"limit": 500}).json()
                if all(j["state"] in ("succeeded", "failed", "stopped", "interrupted") for j in listed["jobs"]):
                    break
                time.sleep(0.5)
            assert listed["total"] == JOBS and sorted(j["id"] for j in listed["jobs"]) == sorted(ids)
            by_name = {j["name"]: j for j in listed["jobs"]}
            bad = client.get(f"/api/jobs/{by_name['load-0']['id']}").json()
            assert bad["state"] == "failed" and bad["exit_code"] == 2, bad
            assert bad["error"].startswith("model.") and "binary" in bad["error"] and "\n" not in bad["error"]  # the CLI's line
            assert {j["state"] for j in listed["jobs"] if j["name"] != "load-0"} == {"succeeded"}, \
                [j["error"] for j in listed["jobs"]]
            assert all(j["attempt"] == 1 and j["pid"] is None for j in listed["jobs"])
            for job_id in ids:
                log = client.get(f"/api/jobs/{job_id}/log").json()["text"]
                assert log.count("== attempt") == 1, log[:500]

        db = sqlite3.connect(tmp_path / "home" / "jobs.sqlite")
        starts = dict(db.execute("SELECT job_id, COUNT(*) FROM events WHERE type = 'state' "
                                 "AND data LIKE '%\"running\"%' GROUP BY job_id").fetchall())
        assert starts == {i: 1 for i in ids}  # each started exactly once
        db.close()
    finally:
        server.stop()
