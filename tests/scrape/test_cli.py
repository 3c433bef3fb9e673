"""``python -m autolit.scrape`` end to end, in a subprocess, against the local servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autolit.errors import UserError
from tests.net.servers import LocalServer
from tests.scrape.scenario import KEY, Scenario

REPO = Path(__file__).resolve().parents[2]
FAST = ["--download-deadline", "1.5", "--read-timeout", "2", "--connect-timeout", "2",
        "--max-bytes", "2000000", "--retry-delay", "0.05", "--no-progress"]


def scrape(store: Path, server: LocalServer, key: str = KEY, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SERPAPI_API_KEY": key, "PYTHONPATH": str(REPO)}
    if not key:
        env.pop("SERPAPI_API_KEY")
    cmd = [sys.executable, "-m", "autolit.scrape", "--queries", "ants,bees", "--per-query", "200",
           "--store", str(store), "--serpapi-url", server.base, "--allow-hosts", "127.0.0.1",
           *FAST, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=120)


def store_info(store: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "autolit.store", "info", str(store), "--json"],
                         capture_output=True, text=True, cwd=REPO, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def store_bytes(store: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file())


@pytest.mark.realdata
def test_end_to_end_twice(scenario: Scenario, tmp_path: Path) -> None:
    store = tmp_path / "S"
    first = scrape(store, scenario.server, KEY, "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout.splitlines()[-1])
    info = store_info(store)
    assert info["labels"] == ["ants", "bees"]
    assert info["per_label"] == {"ants": len(scenario.stored["ants"]),
                                 "bees": len(scenario.stored["bees"])}
    assert report["kept"] == info["count"]
    assert "rejected by reason" in first.stderr  # the closing table (stderr under --json)

    hits = scenario.server.image_hits()
    second = scrape(store, scenario.server, KEY, "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.splitlines()[-1])["kept"] == 0
    assert scenario.server.image_hits() == hits  # nothing downloaded again
    assert store_info(store)["count"] == info["count"]
    for run in (first, second):
        assert KEY not in run.stdout + run.stderr
    assert KEY.encode() not in store_bytes(store)

    # and the scraped store trains: the README's walkthrough, shortened to one small epoch
    fit = subprocess.run(
        [sys.executable, "-m", "autolit.fit", "--config", str(REPO / "configs" / "hymenoptera.yaml"),
         f"--data.store={store}", "--data.source=null", "--model.preset=mlp",
         "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false", "--trainer.logger=false",
         "--trainer.enable_checkpointing=false"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert fit.returncode == 0, fit.stderr[-2000:]
    assert "test/acc" in fit.stdout


def test_wrong_key_stops_with_one_line_and_no_key_anywhere(server: LocalServer, tmp_path: Path) -> None:
    wrong = "secret-WRONG-9f8e7d6c5b4a"
    store = tmp_path / "S"
    run = scrape(store, server, wrong)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: SerpApi refused the API key (HTTP 401")
    assert "Traceback" not in run.stderr
    assert wrong not in run.stdout + run.stderr
    assert not store.exists() or wrong.encode() not in store_bytes(store)
    assert len(server.serp.seen_params) == 1  # no retries on 401


def test_missing_key_is_a_clear_error(server: LocalServer, tmp_path: Path) -> None:
    run = scrape(tmp_path / "S", server, "")
    assert run.returncode == 2
    assert run.stderr.strip() == ("error: SERPAPI_API_KEY is not set: export SERPAPI_API_KEY=<your key> "
                                  "(get one at https://serpapi.com/manage-api-key)")
    assert server.serp.seen_params == []


@pytest.mark.realdata
def test_sigkill_loses_at_most_the_open_batch_and_resumes(
        server: LocalServer, photos: dict, tmp_path: Path) -> None:
    from autolit.store.reader import StoreReader
    from tests.net.servers import Route

    routes = []
    for label in ("ants", "bees"):  # slow images, small pages: many flushes before the kill
        results = []
        for name, data in photos[label]:
            # after the first 12, 1 s each: however loaded the machine, the kill lands mid-scrape
            routes.append(Route(data=data, delay=0.05 if len(routes) < 12 else 1.0))
            server.routes[f"/img/{label}/{name}"] = routes[-1]
            results.append({"original": server.url(f"/img/{label}/{name}")})
        server.serp.pages[label] = [results[i:i + 4] for i in range(0, len(results), 4)]
    total = sum(len(photos[label]) for label in ("ants", "bees"))
    store = tmp_path / "S"
    env = {**os.environ, "SERPAPI_API_KEY": KEY, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "autolit.scrape", "--queries", "ants,bees", "--per-query", "200",
           "--store", str(store), "--serpapi-url", server.base, "--allow-hosts", "127.0.0.1",
           "--workers", "1", *FAST]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if (store / "data.mdb").exists() and StoreReader(store).meta.count >= 8:
                break
        except UserError as exc:  # data.mdb made, first batch not committed yet
            assert "holds no store yet" in str(exc)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader = StoreReader(store)  # opens cleanly: whole batches only
    survived = reader.meta.count
    assert 8 <= survived < total and len(reader.keys()) == survived
    for route in routes:
        route.delay = 0.0  # the resumed run may go fast
    hits = server.image_hits()
    again = scrape(store, server, KEY)
    assert again.returncode == 0, again.stderr
    assert server.image_hits() - hits <= total - survived  # committed URLs are not fetched again
    assert StoreReader(store).meta.count == total
