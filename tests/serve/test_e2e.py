"""End to end through HTTP: the digits fit and its search as the README submits them, predict on
uploaded PNGs against ``python -m autolit.predict``, the event stream with Last-Event-ID.

The posted digits config is configs/digits.yaml with 3 epochs (T_max 3) instead of 30; the search
is configs/search/digits.yaml with 4 trials of 1 epoch over 10 batches: the same files, shorter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from tests.serve.server import REPO, Server, job_request, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory, data_root):
    """One server (2 slots) with the digits fit and the digits search submitted at once."""
    home = tmp_path_factory.mktemp("e2e") / "home"
    server = Server(home, data_root, "--slots", "2").start()
    fit = yaml.safe_load((REPO / "configs" / "digits.yaml").read_text())
    fit["trainer"]["max_epochs"] = 3
    fit["lr_scheduler"]["init_args"]["T_max"] = 3
    search = yaml.safe_load((REPO / "configs" / "search" / "digits.yaml").read_text())
    search["study"]["n_trials"] = 4
    search["overrides"] = {"trainer.max_epochs": 1, "trainer.limit_train_batches": 10,
                           "lr_scheduler.init_args.T_max": 1}
    client = server.client()
    jobs = {
        "fit": client.post("/api/jobs", json=job_request(fit, "digits")).json(),
        "search": client.post("/api/jobs", json=job_request(
            search, "digits-search", kind="search",
            fit_config=(REPO / "configs" / "digits.yaml").read_text())).json(),
    }
    yield server, client, jobs
    client.close()
    server.stop()


def _events(server: Server, *, after: int | None = None, last_id: int | None = None, until=None,
            timeout: float = 30.0) -> list[dict]:
    """Read the SSE stream until ``until(events)`` holds (or the stream has nothing new for a while)."""
    headers = dict(server.headers())
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    params = {} if after is None else {"after": after}
    events, current = [], {}
    end = time.monotonic() + timeout
    with httpx.stream("GET", f"{server.url}/api/events", params=params, headers=headers,
                      timeout=httpx.Timeout(5.0, read=timeout)) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("id: "):
                current = {"id": int(line[4:])}
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
                events.append(current)
                if until is not None and until(events):
                    break
            if time.monotonic() > end:
                break
    return events


def test_fit_goes_queued_running_succeeded_with_test_metrics(served):
    server, client, jobs = served
    job = jobs["fit"]
    assert job["state"] == "queued" and job["kind"] == "fit"
    done = wait_for(client, job["id"], {"succeeded", "failed", "stopped", "interrupted"}, timeout=600)
    assert done["state"] == "succeeded" and done["exit_code"] == 0, done
    assert done["test_metrics"]["test/acc"] >= 0.9, done["test_metrics"]
    assert done["confusion_matrix"] and client.get(done["confusion_matrix"]).content[:8] == b"\x89PNG\r\n\x1a\n"
    states = [e["data"]["state"] for e in _events(server, after=0, until=lambda ev: any(
        e["event"] == "state" and e["data"]["id"] == job["id"] and e["data"]["state"] == "succeeded" for e in ev))
        if e["event"] == "state" and e["data"]["id"] == job["id"]]
    assert states == ["queued", "running", "succeeded"]
    listed = client.get("/api/jobs", params={"state": "succeeded", "kind": "fit"}).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]


def test_the_event_stream_resumes_after_last_event_id(served):
    server, _, _ = served
    first = _events(server, after=0, until=lambda ev: len(ev) >= 6)
    ids = [e["id"] for e in first]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    again = _events(server, last_id=ids[2], until=lambda ev: len(ev) >= 3)
    assert [e["id"] for e in again] == ids[3:6]  # nothing missed, nothing repeated


def test_search_job_reports_its_best_trial(served):
    _, client, jobs = served
    job = jobs["search"]
    done = wait_for(client, job["id"], {"succeeded", "failed", "stopped", "interrupted"}, timeout=600)
    assert done["state"] == "succeeded", (done, client.get(f"/api/jobs/{job['id']}/log").json()["text"][-2000:])
    points = client.get(f"/api/jobs/{job['id']}/metrics").json()["points"]
    assert points and {p["tag"] for p in points} == {"val/acc"} and len(points) <= 4
    best = done["best_trial"]
    assert best is not None and best["value"] == max(p["value"] for p in points)
    assert best["number"] in {p["step"] for p in points} and "optimizer.init_args.lr" in best["params"]


def test_predict_on_uploads_agrees_with_the_predict_cli(served, tmp_path):
    _, client, jobs = served
    job = wait_for(client, jobs["fit"]["id"], {"succeeded", "failed"}, timeout=600)
    pngs = tmp_path / "pngs"
    store = f"{job['folder']}/stores/digits"
    subprocess.run([sys.executable, "-m", "autolit.store", "extract", store, "--split", "test", "--n", "8",
                    "--out", str(pngs)], check=True, capture_output=True, cwd=REPO)
    files = sorted(pngs.rglob("*.png"))
    answer = client.post(f"/api/jobs/{job['id']}/predict", params={"top_k": 3},
                         files=[("files", (f.name, f.read_bytes(), "image/png")) for f in files])
    assert answer.status_code == 200, answer.text
    served_preds = answer.json()["predictions"]
    assert client.get(f"/api/jobs/{job['id']}").json()["exported"]
    cli = subprocess.run([sys.executable, "-m", "autolit.predict", f"{job['folder']}/deploy", *map(str, files),
                          "--json"], check=True, capture_output=True, text=True, cwd=REPO).stdout.splitlines()
    expected = [json.loads(line) for line in cli]
    assert [p["label"] for p in served_preds] == [e["label"] for e in expected]
    assert [p["top"] for p in served_preds] == [e["top"] for e in expected]
    assert [p["path"] for p in served_preds] == [f.name for f in files]

    bad = client.post(f"/api/jobs/{job['id']}/predict", files=[("files", ("notes.png", b"plain text", "image/png"))])
    assert bad.status_code == 422 and bad.json()["detail"]["value"][0]["code"] == "not_image"
    archive = client.get(f"/api/jobs/{job['id']}/export.zip")
    assert archive.status_code == 200 and archive.content[:2] == b"PK"


def test_delete_forgets_an_ended_job_and_its_folder_only_when_asked(served):
    _, client, jobs = served
    search = wait_for(client, jobs["search"]["id"], {"succeeded", "failed", "stopped", "interrupted"}, timeout=600)
    kept = client.delete(f"/api/jobs/{search['id']}")
    assert kept.status_code == 200 and kept.json() == {"id": search["id"], "folder_removed": False}
    assert client.get(f"/api/jobs/{search['id']}").status_code == 404
    assert (REPO / search["folder"]).is_dir()  # without delete_folder=true the folder stays

    fit = client.get(f"/api/jobs/{jobs['fit']['id']}").json()
    gone = client.delete(f"/api/jobs/{fit['id']}", params={"delete_folder": "true"})
    assert gone.status_code == 200 and gone.json()["folder_removed"] and not (REPO / fit["folder"]).exists()
    assert client.get("/api/jobs").json()["total"] == 0
