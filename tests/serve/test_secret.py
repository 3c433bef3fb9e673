"""The server's SerpApi key reaches a job only through the environment: never a config, a log
line, an error or an event the API answers."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.serve.server import Server, job_request, tiny_fit, wait_for

KEY = "serpapi-test-key-0123456789abcdef"


@pytest.fixture
def server(tmp_path, data_root):
    served = Server(tmp_path / "home", data_root, "--slots", "1", env={"SERPAPI_API_KEY": KEY}).start()
    yield served
    served.stop()


def test_the_key_is_refused_in_a_config_and_masked_in_logs_and_events(server, data_root):
    with server.client() as client:
        config = tiny_fit(data_root / "tiny")
        config["data"]["source"] = {"scrape": {"queries": ["ants"], "per_query": 1, "api_key": KEY}}
        refused = client.post("/api/jobs", json=job_request(config))
        assert refused.status_code == 422 and KEY not in refused.text

        job = client.post("/api/jobs", json=job_request(tiny_fit(data_root / "tiny", max_epochs=1))).json()
        with open(f"{job['folder']}/job.log", "a") as log:  # what a careless library might print
            log.write(f"GET https://serpapi.com/search?api_key={KEY}&q=ants\n")
        done = wait_for(client, job["id"], {"succeeded", "failed"})
        assert done["state"] == "succeeded"
        text = client.get(f"/api/jobs/{job['id']}/log").json()["text"]
        assert "serpapi.com/search" in text and KEY not in text
        time.sleep(1.5)  # the watcher's last look at the ended job
        with httpx.stream("GET", f"{server.url}/api/events", params={"after": 0}, timeout=5) as stream:
            seen = ""
            try:
                for chunk in stream.iter_text():
                    seen += chunk
                    if "serpapi.com/search" in seen:
                        break
            except httpx.ReadTimeout:
                pass
        assert "serpapi.com/search" in seen and KEY not in seen
