"""Hostile requests through HTTP: refused with 4xx, nothing written, nothing run; the token on
every route. (Admission's own matrix, every class and path place, is tests/serve/test_admission.py;
here each kind of refusal is shown to reach the client as a 4xx naming the key.)"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
import yaml

from tests.serve.server import REPO, Server, job_request, tiny_fit

TOKEN = "s3cret-token-for-tests"
PAYLOADS = ("subprocess.Popen", "os.system", "builtins.eval")


def _with(config: dict, place: str, payload: str) -> dict:
    spec = {"class_path": payload, "init_args": {"args": ["touch", "/tmp/autolit-pwned"]}}
    if place == "optimizer":
        config["optimizer"] = spec
    elif place == "lr_scheduler":
        config["lr_scheduler"] = spec
    elif place in ("callbacks", "plugins"):
        config["trainer"][place] = [spec]
    elif place == "logger":
        config["trainer"]["logger"] = spec
    elif place in ("model", "data"):
        config[place] = spec
    return config


@pytest.fixture(scope="module")
def server(tmp_path_factory, data_root):
    home = tmp_path_factory.mktemp("security") / "home"
    served = Server(home, data_root, token=TOKEN).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        yield c


def _nothing_written(server: Server, client: httpx.Client) -> None:
    assert client.get("/api/jobs").json()["total"] == 0
    jobs = server.home / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []
    assert not os.path.exists("/tmp/autolit-pwned")


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("place", ["model", "data", "optimizer", "lr_scheduler", "callbacks", "logger", "plugins"])
def test_a_class_outside_the_allowlist_is_refused_everywhere(server, client, data_root, place, payload):
    config = _with(tiny_fit(data_root / "tiny"), place, payload)
    answer = client.post("/api/jobs", json=job_request(config))
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail["key"] and detail["key"].split(".")[0].split("[")[0] in (place, "trainer"), detail
    _nothing_written(server, client)


def test_a_search_space_choice_outside_the_allowlist_is_refused(server, client, data_root):
    search = {"fit_config": "fit.yaml", "study": {"name": "x", "n_trials": 2},
              "space": {"optimizer.class_path": {"type": "categorical", "choices": ["torch.optim.SGD", "os.system"]}}}
    answer = client.post("/api/jobs", json=job_request(search, kind="search",
                                                       fit_config=yaml.safe_dump(tiny_fit(data_root / "tiny"))))
    assert answer.status_code == 422 and answer.json()["detail"]["key"].startswith("space."), answer.text
    _nothing_written(server, client)


@pytest.mark.parametrize("key, value", [
    ("data.store", "/etc"), ("data.store", "../../../../etc"), ("trainer.default_root_dir", "/etc"),
    ("ckpt_path", "/etc/passwd"), ("data.source", "folder:/etc"),
])
def test_paths_outside_the_roots_are_refused(server, client, data_root, key, value):
    config = tiny_fit(data_root / "tiny")
    section, _, name = key.rpartition(".")
    (config[section] if section else config)[name] = value
    answer = client.post("/api/jobs", json=job_request(config))
    assert answer.status_code == 422 and answer.json()["detail"]["key"].startswith(key.split(".")[0]), answer.text
    _nothing_written(server, client)


@pytest.mark.parametrize("key", ["trainer.default_root_dir", "data.store"])
def test_the_servers_own_files_are_outside_what_a_job_may_write(server, client, data_root, key):
    """Jobs touch <home>/jobs only: the job table beside it cannot be named, let alone overwritten."""
    config = tiny_fit(data_root / "tiny")
    section, _, name = key.rpartition(".")
    config[section][name] = str(server.home if key.startswith("trainer") else server.home / "jobs.sqlite")
    answer = client.post("/api/jobs", json=job_request(config))
    assert answer.status_code == 422 and answer.json()["detail"]["key"] == key, answer.text
    _nothing_written(server, client)


def test_a_symlink_out_of_a_data_root_is_refused(server, client, data_root):
    link = data_root / "escape"
    if not link.exists():
        link.symlink_to("/etc")
    answer = client.post("/api/jobs", json=job_request(tiny_fit(link)))
    assert answer.status_code == 422 and answer.json()["detail"]["key"] == "data.store", answer.text
    _nothing_written(server, client)


def test_malformed_yaml_and_bad_requests_are_4xx(server, client, data_root):
    for text in ("trainer: [unclosed", "- a\n- list", "a: &x [*x]"):
        answer = client.post("/api/jobs", json={"kind": "fit", "name": "x", "config": text})
        assert answer.status_code == 422 and "\n" not in answer.json()["detail"]["message"], answer.text
    assert client.post("/api/jobs", json={"kind": "train", "name": "x", "config": "{}"}).status_code == 422
    assert client.post("/api/jobs", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    _nothing_written(server, client)


def test_oversized_bodies_and_uploads_are_413(server, client):
    big = {"kind": "fit", "name": "x", "config": "a: " + "x" * (2 * 1024 * 1024)}
    assert client.post("/api/jobs", json=big).status_code == 413

    def chunks():  # no Content-Length: counted while it streams in
        for _ in range(40):
            yield b"x" * (64 * 1024)
    streamed = client.post("/api/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    huge = client.post("/api/jobs/1/predict", files=[("files", ("big.png", b"\0" * (51 * 1000 * 1000), "image/png"))])
    assert huge.status_code == 413
    _nothing_written(server, client)


@pytest.mark.parametrize("path", ["/api/jobs", "/api/jobs/1", "/api/events", "/docs", "/openapi.json"])
def test_every_route_needs_the_token(server, path):
    assert httpx.get(server.url + path, timeout=10).status_code == 401
    wrong = httpx.get(server.url + path, headers={"Authorization": "Bearer not-it"}, timeout=10)
    assert wrong.status_code == 401
    if path != "/api/events":
        assert httpx.get(server.url + path, headers=server.headers(), timeout=10).status_code in (200, 404)


def test_binding_beyond_loopback_without_a_token_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AUTOLIT_TOKEN"} | {"PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "autolit.serve", "--host", "0.0.0.0", "--home", str(tmp_path / "h")],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and done.stderr.startswith("error: --host 0.0.0.0")
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "h").exists()
