"""The page's files and routes: served before the token (no data in them), everything they load is
local, the series route downsamples on the server keeping each bucket's extremes, a job's config and
headline; a search's report; with a token the page asks for it and then works (headless Chromium:
the jobs list, and a search job's trials and best trial)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
import yaml

from autolit.search.storage import open_storage
from autolit.serve.models import State
from autolit.serve.page import (
    STATIC,
    asset_table,
    downsample,
    find_stores,
    shipped_configs,
)
from autolit.serve.table import JobTable
from scripts.bench_page import fit_config, make_home
from tests import browser
from tests.search.synthetic_study import make_study
from tests.serve.server import Server

TOKEN = "page-test-token"


def add_search(home: Path) -> int:
    """A finished search job whose study (tests/search/synthetic_study.py) is in its folder's journal."""
    folder = home / "jobs" / "search-0"
    (folder / "runs" / "syn").mkdir(parents=True)
    (folder / "search.yaml").write_text("fit_config: fit.yaml\nstudy: {name: syn}\n")
    make_study(open_storage(str(folder / "runs" / "syn" / "journal.log")), "syn", 30)
    table = JobTable(home / "jobs.sqlite")
    job_id = table.insert("search", "syn-search", folder, None, "syn")
    table.transition(job_id, State.running, when=[State.queued], started_at=time.time() - 60, attempt=1)
    table.transition(job_id, State.succeeded, when=[State.running], ended_at=time.time(), exit_code=0)
    table.close()
    return job_id


@pytest.fixture(scope="module")
def served(tmp_path_factory, data_root):
    """A server with a token on a home of 4 finished fits, 2 of them with 3,000 logged steps, and a
    finished search of 30 trials (the last id)."""
    home = tmp_path_factory.mktemp("page-routes") / "home"
    ids = make_home(home, jobs=4, runs=2, points=3000)
    ids.append(add_search(home))
    server = Server(home, data_root, token=TOKEN).start()
    client = server.client()
    yield server, client, ids
    client.close()
    server.stop()


def test_downsample_keeps_each_buckets_first_min_max_and_the_last_point():
    steps = list(range(10_000))
    values = [0.0] * 10_000
    values[4321], values[7777] = 5.0, -5.0  # spikes an every-n-th pick would drop
    kept_steps, kept = downsample(steps, values, 300)
    assert len(kept_steps) <= 301 and kept_steps == sorted(kept_steps) and kept_steps[-1] == 9999
    assert 5.0 in kept and -5.0 in kept and kept_steps[kept.index(5.0)] == 4321
    assert downsample([1, 2], [0.5, 0.6], 300) == ([1, 2], [0.5, 0.6])  # under the limit: as it is


def test_assets_are_a_fixed_table_of_local_files():
    table = asset_table()
    assert table["/"] == STATIC / "index.html" and "/static/vendor/uPlot.esm.js" in table
    assert all(p.resolve().is_relative_to(STATIC) for p in table.values())
    html = (STATIC / "index.html").read_text()
    assert re.findall(r'(?:src|href)="(/[^"]*)"', html) and not re.search(r'(?:src|href)="(?:https?:)?//', html)
    for js in (STATIC / "js").glob("*.js"):  # every module imports a file of the page
        text = js.read_text()
        for target in re.findall(r'^import .* from "([^"]+)";$', text, re.MULTILINE) + re.findall(r'import\("([^"]+)"\)', text):
            assert target.startswith(("./", "../vendor/")), (js.name, target)
            assert (js.parent / target).resolve().is_file(), (js.name, target)


def test_stores_under_the_data_roots_and_the_shipped_configs(tmp_path):
    from tests.synthetic import write_store

    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    write_store(root / "a" / "mine", n=12)
    (root / "not_a_store").mkdir()
    write_store(elsewhere / "theirs", n=12)  # not under the roots asked about
    assert find_stores((root, tmp_path / "empty")) == [str(root / "a" / "mine")]
    shipped = shipped_configs()
    assert "digits" in [c["name"] for c in shipped["fit"]] and "digits" in [c["name"] for c in shipped["search"]]


def test_the_page_loads_without_the_token_and_the_api_needs_it(served):
    server = served[0]
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    module = httpx.get(f"{server.url}/static/js/main.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server.url}/api/jobs").status_code == 401
    assert httpx.get(f"{server.url}/api/page/configs").status_code == 401
    assert httpx.get(f"{server.url}/static/../page.py").status_code in (401, 404)  # no file outside the table
    assert httpx.post(f"{server.url}/").status_code == 401  # only GET/HEAD are the page's


def test_series_are_downsampled_on_the_server(served):
    _, client, ids = served
    answer = client.get("/api/page/series", params={"ids": ids[:4], "tag": "val/acc", "points_per_run": 300})
    assert answer.status_code == 200
    series = {s["id"]: s for s in answer.json()["series"]}
    assert [series[i]["total"] for i in ids[:4]] == [3000, 3000, 0, 0]
    full = client.get(f"/api/jobs/{ids[0]}/metrics", params={"tag": "val/acc"}).json()["points"]
    first = series[ids[0]]
    assert 0 < len(first["steps"]) <= 301 and first["steps"][0] == 0 and first["steps"][-1] == 2999
    values = [p["value"] for p in full]
    assert max(first["values"]) == max(values) and min(first["values"]) == min(values)
    assert set(answer.json()["tags"]) == {"val/acc", "train/loss"}
    too_many = client.get("/api/page/series", params={"ids": list(range(1, 300)), "tag": "val/acc"})
    assert too_many.status_code == 422 and too_many.json()["detail"]["key"] == "ids"


def test_a_jobs_config_and_headline(served):
    _, client, ids = served
    config = client.get(f"/api/jobs/{ids[1]}/config").json()
    assert config["kind"] == "fit" and yaml.safe_load(config["config"]) == fit_config(1)
    heads = client.get("/api/page/headlines", params={"ids": ids}).json()["headlines"]
    best = client.get(f"/api/jobs/{ids[4]}").json()["best_trial"]
    assert heads[str(ids[4])] == {"tag": "best trial", "value": best["value"], "step": best["number"]}
    last = client.get(f"/api/jobs/{ids[0]}/metrics", params={"tag": "val/acc"}).json()["points"][-1]
    assert heads[str(ids[0])] == {"tag": "val/acc", "value": last["value"], "step": last["step"]}
    assert heads[str(ids[3])] is None  # no run logged yet
    assert client.get("/api/jobs/999/config").status_code == 404


@pytest.mark.skipif(browser.available() is not None, reason=str(browser.available()))
def test_the_page_asks_for_the_token_then_lists_the_jobs(served):
    server, _, ids = served
    url = server.url
    with browser.browser() as chromium:
        page = browser.open_page(chromium, f"{url}/#/jobs")
        page.wait_for_selector("#token-dialog[open]")
        page.fill("#token-input", TOKEN)
        page.keyboard.press("Enter")  # the dialog's form: keyboard only
        page.wait_for_selector(f"#view[data-ready=jobs] #jobs tr[data-id='{ids[0]}']")
        assert page.locator("#jobs tbody tr[data-id]").count() == 5
        page.wait_for_selector("#feed-state[data-status=live]")
        assert page.evaluate("localStorage.getItem('autolit.token')") == TOKEN
        errors = [e for e in page.errors if not re.search(r"HTTP 401 for |status of 401", e)]
        assert errors == []

        page.click(f"#jobs tr[data-id='{ids[4]}'] a")  # the search: its trials, best trial, report
        page.wait_for_selector("#view[data-ready=job] #best-trial")
        best = server.client().get(f"/api/jobs/{ids[4]}").json()["best_trial"]
        assert f"best trial #{best['number']}" in page.inner_text("#best-trial")
        trials = server.client().get(f"/api/jobs/{ids[4]}/metrics").json()["points"]
        assert page.locator("#trials tbody tr").count() == len(trials) > 0
        assert page.get_attribute("#best-trial a", "href") == f"/api/jobs/{ids[4]}/report/index.html"
        assert [e for e in page.errors if not re.search(r"HTTP 401 for |status of 401", e)] == []


def test_a_search_report_is_written_on_first_ask(served):
    _, client, ids = served
    index = client.get(f"/api/jobs/{ids[4]}/report/index.html")
    assert index.status_code == 200 and "<html" in index.text.lower()
    assert index.headers["content-security-policy"] == "sandbox allow-scripts"  # away from the page's token
    assert client.get(f"/api/jobs/{ids[4]}/report/trials.csv").status_code == 200
    assert client.get(f"/api/jobs/{ids[4]}/report/nothing.js").status_code == 404
    assert client.get(f"/api/jobs/{ids[0]}/report/index.html").status_code == 404  # a fit has none
