"""``data.source: {scrape: ...}``: fit builds the store from the local SerpApi stand-in, trains, and a
second run scrapes nothing; only queries whose label the store lacks are scraped later."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autolit.datamodules import StoreDataModule
from autolit.errors import UserError
from autolit.store import StoreReader
from autolit.training import run_fit
from tests.net.servers import LocalServer, Route
from tests.orphans import kill_and_count_survivors, needs_proc
from tests.scrape.scenario import KEY
from tests.training.conftest import base_config

REPO = Path(__file__).resolve().parents[2]
PER_QUERY = 30
FAST = {"download_deadline": 5.0, "read_timeout": 3.0, "connect_timeout": 2.0, "retry_delay": 0.05,
        "workers": 4}


def shape_png(label: str, seed: int) -> bytes:
    """A 24x24 RGB PNG: noise plus the label's shape, different for every seed."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (24, 24, 3), dtype=np.uint8)
    if label == "bars":
        img[10:14, :] = 230
    elif label == "rings":
        img[[0, 1, -2, -1], :] = 230
        img[:, [0, 1, -2, -1]] = 230
    else:
        img[10:14, 10:14] = 230
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, "PNG")
    return buf.getvalue()


def serve(server: LocalServer, label: str, n: int = PER_QUERY, delay: float = 0.0) -> None:
    """``n`` distinct images for query ``label``, in pages of 10 results."""
    results = []
    for i in range(n):
        path = f"/img/{label}/{i}.png"
        server.routes[path] = Route(data=shape_png(label, 1000 * len(label) + i), content_type="image/png",
                                    delay=delay)
        results.append({"position": i + 1, "original": server.url(path), "title": f"{label} {i}"})
    server.serp.pages[label] = [results[i:i + 10] for i in range(0, n, 10)]


def scrape_source(server: LocalServer, queries: list[str], **extra: object) -> dict:
    return {"scrape": {"queries": queries, "per_query": PER_QUERY, "serpapi_url": server.base,
                       "allow_hosts": ["127.0.0.1"], **FAST, **extra}}


def fit_config(store: Path, source: dict) -> dict:
    config = base_config(store)
    config["trainer"].update(max_epochs=1, enable_progress_bar=False, enable_model_summary=False)
    config["data"].update(source=source, image_size=12, channels=1, batch_size=16)
    return config


def all_bytes(*folders: Path) -> bytes:
    return b"".join(p.read_bytes() for f in folders for p in sorted(f.rglob("*")) if p.is_file())


def test_fit_scrapes_a_missing_store_trains_and_the_next_run_scrapes_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SERPAPI_API_KEY", KEY)
    for label in ("bars", "rings"):
        serve(server, label)
    store = tmp_path / "S"
    source = scrape_source(server, ["bars", "rings"])
    first = run_fit(fit_config(store, source), run_dir=tmp_path / "run1", progress=False)
    assert "test/acc" in first.metrics
    meta = StoreReader(store).meta
    assert meta.per_label == {"bars": PER_QUERY, "rings": PER_QUERY} and meta.splits["val"] > 0
    searches, images = len(server.serp.seen_params), server.image_hits()
    assert searches >= 6 and images == 2 * PER_QUERY  # 3 pages per query, every image once

    again = run_fit(fit_config(store, source), run_dir=tmp_path / "run2", progress=False)
    assert "test/acc" in again.metrics
    assert len(server.serp.seen_params) == searches and server.image_hits() == images  # nothing scraped
    assert StoreReader(store).meta.fingerprint == meta.fingerprint
    assert KEY.encode() not in all_bytes(tmp_path / "run1", tmp_path / "run2", store)  # resolved.yaml too

    # A query whose label the store lacks is scraped, and only that one.
    serve(server, "dots")
    StoreDataModule(str(store), source=scrape_source(server, ["bars", "rings", "dots"])).n_labels
    asked = {p["q"] for p in server.serp.seen_params[searches:]}
    assert asked == {"dots"} and StoreReader(store).meta.per_label["dots"] == PER_QUERY


def test_missing_key_is_one_line_naming_the_variable(server, tmp_path, monkeypatch):
    monkeypatch.delenv("SERPAPI_API_KEY", raising=False)
    serve(server, "bars")
    # golden: this room's one test of a whole message, word for word (tests/errors.py)
    with pytest.raises(UserError, match=r"^SERPAPI_API_KEY is not set: export SERPAPI_API_KEY=<your key>"):
        StoreDataModule(str(tmp_path / "S"), source=scrape_source(server, ["bars"])).n_labels
    assert server.serp.seen_params == [] and not (tmp_path / "S").exists()


@pytest.mark.parametrize(("options", "message"), [
    ({"per_query": 0}, r"^data.source.scrape.per_query: 0 is out of range; use a value at least 1$"),
    ({"per_qery": 5}, r"^data.source.scrape.per_qery: unknown option \(did you mean 'per_query'\?\)"),
    ({"workers": "many"}, r"^data.source.scrape.workers: 'many' must be an integer$"),
    ({"thumbnails": "yes"}, r"^data.source.scrape.thumbnails: 'yes' must be true or false$"),
    ({"engine": "bing"}, r"^data.source.scrape.engine: 'bing' is not one of google_images, google$"),
    ({"queries": []}, r"^no queries: set data.source.scrape.queries"),
    ({"queries": ["a", "a"]}, r"query 'a' is listed twice"),
    ({"api_key": "secret-in-config-1234"}, r"^data.source.scrape.api_key: unknown option; scrape takes queries"),
    ({"serpapi_url": "https://serpapi.com/?api_key=secret-in-url-1234"},
     r"^data.source.scrape.serpapi_url: the URL carries a credential parameter; remove it: the key is read "
     r"only from SERPAPI_API_KEY$"),
])
def test_scrape_options_are_checked_naming_the_key(tmp_path, monkeypatch, options, message):
    monkeypatch.setenv("SERPAPI_API_KEY", KEY)
    source = {"scrape": {"queries": ["bars"], "per_query": 5, **options}}
    with pytest.raises(UserError, match=message) as caught:
        StoreDataModule(str(tmp_path / "S"), source=source).n_labels
    assert "secret-in" not in str(caught.value)
    assert not (tmp_path / "S").exists()


@needs_proc
def test_a_killed_scrape_leaves_no_process_and_downloads_stop(server, tmp_path):
    """The scraper downloads in threads: killing its process ends every download at once."""
    for label in ("bars", "rings"):
        serve(server, label, delay=0.2)
    env = {**os.environ, "SERPAPI_API_KEY": KEY, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autolit.scrape", "--queries", "bars,rings", "--per-query", str(PER_QUERY),
         "--store", str(tmp_path / "S"), "--serpapi-url", server.base, "--allow-hosts", "127.0.0.1",
         "--workers", "4", "--no-progress"], cwd=REPO, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while server.image_hits() < 4 and proc.poll() is None:
        time.sleep(0.02)
    assert kill_and_count_survivors(proc, wait=2.0) == []
    hits = server.image_hits()
    time.sleep(1.0)
    assert server.image_hits() == hits < 2 * PER_QUERY
