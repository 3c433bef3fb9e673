"""The page at ``/`` in headless Chromium against one real ``python -m autolit.serve``, network off.

The digits fit is started from the form (configs/digits.yaml, epochs changed) and watched to
succeeded while its val curve grows from the event stream; three of its digit PNGs are uploaded and
must get the labels ``python -m autolit.predict`` gives; two tiny runs are compared on one chart; a
job is stopped and resumed from its buttons, a failed one shows its error line and log; layers are added, removed and reordered; a refused field shows the server's message at the
field. Every test ends with no JavaScript error and no failed request (the only HTTP errors allowed
are the ones a test provokes: the refused config's 422).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests import browser
from tests.serve.server import REPO, Server, job_request, tiny_fit, wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(browser.available() is not None, reason=str(browser.available()))]
EPOCHS = 4


@pytest.fixture(scope="module")
def served(tmp_path_factory, data_root):
    """One server with two slots for the module, and its URL."""
    home = tmp_path_factory.mktemp("page") / "home"
    server = Server(home, data_root, "--slots", "2", "--grace", "20").start()
    client = server.client()
    yield server, client, server.url
    client.close()
    server.stop()


@pytest.fixture(scope="module")
def chromium():
    with browser.browser() as b:
        yield b


def open_view(chromium, url: str, hash_: str, viewport: dict | None = None):
    """The page at ``#/<view>``, once the view has rendered."""
    page = browser.open_page(chromium, f"{url}/{hash_}", viewport)
    page.requests = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.wait_for_selector("#view[data-ready]", timeout=60_000)
    return page


def unexpected(page, allowed: tuple[str, ...] = ()) -> list[str]:
    """``page.errors`` less those matching ``allowed`` (regexes of errors a test provokes)."""
    return [e for e in page.errors if not any(re.search(a, e) for a in allowed)]


def row_state(page, job_id: int, state: str, timeout_s: float = 180) -> None:
    page.wait_for_selector(f"#jobs tr[data-id='{job_id}'][data-state='{state}']", timeout=timeout_s * 1000)


def test_digits_from_the_form_runs_live_and_predicts_like_the_cli(served, chromium, tmp_path):
    _, client, url = served
    page = open_view(chromium, url, "#/new")
    assert page.input_value("#start-from") == "config:digits"
    shipped = yaml.safe_load((REPO / "configs" / "digits.yaml").read_text())
    assert yaml.safe_load(page.input_value("#yaml")) == shipped  # the form opened on the shipped file
    page.fill("#f-epochs", str(EPOCHS))
    submitted = yaml.safe_load(page.input_value("#yaml"))
    assert submitted == {**shipped, "trainer": {**shipped["trainer"], "max_epochs": EPOCHS}}  # only that changed
    page.click("#start-run")
    page.wait_for_url(re.compile(r"#/job/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])
    page.wait_for_selector("#view[data-ready=job]")
    stored = yaml.safe_load(client.get(f"/api/jobs/{job_id}/config").json()["config"])
    assert stored["data"].pop("store").endswith("/stores/digits")  # made absolute in the job's folder
    assert stored == {**submitted, "data": {k: v for k, v in submitted["data"].items() if k != "store"}}

    seen, reconnected = [], False  # val/acc points on the page while the badge says running
    end = time.monotonic() + 300
    while time.monotonic() < end:
        state = page.get_attribute("#job-head .state", "data-state")
        if state in ("succeeded", "failed"):
            break
        points = page.get_attribute(".chart[data-tag='val/acc']", "data-points")
        if state == "running" and points:
            seen.append(int(points))
            if not reconnected:  # drop the stream once: it must resume from Last-Event-ID, losing nothing
                page.click("#feed-state")
                reconnected = True
        time.sleep(0.2)
    assert state == "succeeded", client.get(f"/api/jobs/{job_id}/log").json()["text"][-2000:]
    assert len(set(seen)) >= 2 and min(seen) < EPOCHS, seen  # the curve grew while it ran
    served_val = [p for p in client.get(f"/api/jobs/{job_id}/metrics", params={"tag": "val/acc"}).json()["points"]]
    assert len(served_val) == EPOCHS
    page.wait_for_selector(f".chart[data-tag='val/acc'][data-points='{EPOCHS}']", timeout=30_000)
    page.wait_for_selector("#test-metrics dd")
    assert "test/acc" in page.inner_text("#test-metrics")
    page.wait_for_selector("#confusion[src^='blob:']")
    assert "== attempt 1: " in page.inner_text("#log")

    pngs = tmp_path / "pngs"
    subprocess.run([sys.executable, "-m", "autolit.store", "extract", f"{client.get(f'/api/jobs/{job_id}').json()['folder']}/stores/digits",
                    "--split", "test", "--n", "3", "--out", str(pngs)], check=True, capture_output=True, cwd=REPO)
    files = sorted(pngs.rglob("*.png"))
    page.set_input_files("#predict-files", [str(f) for f in files])
    page.wait_for_selector("#predictions figure:nth-child(3)", timeout=180_000)
    shown = page.eval_on_selector_all("#predictions figure", "figs => figs.map(f => f.dataset.label)")
    folder = client.get(f"/api/jobs/{job_id}").json()["folder"]
    cli = subprocess.run([sys.executable, "-m", "autolit.predict", f"{folder}/deploy", *map(str, files), "--json"],
                         check=True, capture_output=True, text=True, cwd=REPO).stdout.splitlines()
    assert shown == [json.loads(line)["label"] for line in cli]
    page.click("#export")
    page.wait_for_selector("#export-files li")
    with page.expect_download() as download:
        page.click("#download-zip")
    assert download.value.suggested_filename == f"job-{job_id}-deploy.zip"
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"
    assert all(url in r or r.startswith(("blob:", "data:")) for r in page.requests), page.requests  # all local
    dropped = r"failed to load .*/api/events: net::ERR_ABORTED"  # the stream the reconnect button closed
    assert len(page.errors) - len(unexpected(page, (dropped,))) == 1 and unexpected(page, (dropped,)) == []


def test_a_refused_field_shows_the_servers_message_there(served, chromium):
    _, client, url = served
    page = open_view(chromium, url, "#/new")
    yaml_text = page.input_value("#yaml")
    page.fill("#yaml", yaml_text.replace("max_epochs: 30", "max_epochs: 7"))  # the YAML side fills the form
    page.wait_for_function("document.querySelector('#f-epochs').value === '7'")
    field = page.locator("[id='f-data.batch_size']")
    field.fill("0")
    field.press("Enter")  # keyboard submit
    message = page.locator(".field[data-key='data.batch_size'].invalid .field-error")
    message.wait_for()
    expected = client.post("/api/jobs", json={"kind": "fit", "name": "digits", "config": page.input_value("#yaml")})
    assert expected.status_code == 422 and expected.json()["detail"]["key"] == "data.batch_size"
    assert message.inner_text() == expected.json()["detail"]["message"]
    assert page.url.endswith("#/new")  # nothing started
    assert unexpected(page, (r"HTTP 422 for .*/api/jobs$", r"status of 422")) == []


def test_stop_and_resume_from_the_jobs_buttons(served, chromium):
    server, client, url = served
    store = server.data_root / "tiny"
    failing = tiny_fit(store)
    failing["model"]["task"] = "binary"  # passes the checks, refused once the 3-label store is read
    bad = client.post("/api/jobs", json=job_request(failing, "bad")).json()
    job = client.post("/api/jobs", json=job_request(tiny_fit(store, max_epochs=100_000), "long")).json()
    page = open_view(chromium, url, "#/jobs")
    row_state(page, bad["id"], "failed")
    error = page.locator(f"#jobs tr[data-error-of='{bad['id']}']")
    assert error.locator(".job-error").inner_text() == wait_for(client, bad["id"], {"failed"})["error"]
    error.locator("button").click()  # its log
    page.wait_for_function(f"document.querySelector(\"tr[data-error-of='{bad['id']}'] pre\").textContent.includes('error: ')")
    row_state(page, job["id"], "running")
    end = time.monotonic() + 120
    while not client.get(f"/api/jobs/{job['id']}/metrics").json()["points"] and time.monotonic() < end:
        time.sleep(0.5)  # training, so the stop saves last.ckpt and the resume goes on from it
    page.click(f"#jobs tr[data-id='{job['id']}'] button[data-action=stop]")
    row_state(page, job["id"], "stopped", 60)
    page.click(f"#jobs tr[data-id='{job['id']}'] button[data-action=resume]")
    row_state(page, job["id"], "running")
    assert client.get(f"/api/jobs/{job['id']}").json()["attempt"] == 2
    page.click(f"#jobs tr[data-id='{job['id']}'] button[data-action=stop]")
    row_state(page, job["id"], "stopped", 60)
    log = client.get(f"/api/jobs/{job['id']}/log").json()["text"]
    assert "== attempt 2: " in log and "--ckpt_path last" in log
    assert unexpected(page) == []


def test_compare_two_runs_on_one_chart_with_their_differing_keys(served, chromium):
    server, client, url = served
    store = server.data_root / "tiny"
    ids = [client.post("/api/jobs", json=job_request(tiny_fit(store, max_epochs=e), f"tiny-{e}")).json()["id"]
           for e in (1, 2)]
    for job_id in ids:
        wait_for(client, job_id, {"succeeded"})
    page = open_view(chromium, url, "#/jobs")
    for job_id in ids:
        page.check(f"#jobs tr[data-id='{job_id}'] input.pick")
    page.click("text=Compare selected")
    page.wait_for_selector("#view[data-ready=compare] #compare-chart[data-series='2']")
    legend = page.inner_text("#compare-chart")
    assert f"#{ids[0]} tiny-1" in legend and f"#{ids[1]} tiny-2" in legend
    row = page.locator("#config-table tr[data-key='trainer.max_epochs']")
    assert row.get_attribute("class") == "differs-row" and row.locator("td.differs").all_inner_texts() == ["1", "2"]
    assert page.locator("#config-table tr.differs-row").count() == 1  # nothing else differs
    page.select_option("#compare-tag", "train/loss")
    page.wait_for_selector("#view[data-ready=compare] #compare-chart[data-tag='train/loss'][data-series='2']")
    assert unexpected(page) == []

    phone = open_view(chromium, url, "#/jobs", {"width": 390, "height": 800})  # phone width: nothing wider
    for view in ("#/jobs", "#/new", f"#/compare?ids={ids[0]},{ids[1]}"):
        phone.evaluate(f"location.hash = '{view}'")
        phone.wait_for_selector(f"#view[data-ready='{view[2:].split('?')[0]}']")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 391, view
    assert unexpected(phone) == []


def test_layers_are_added_removed_and_reordered_and_the_yaml_follows(served, chromium):
    _, _, url = served
    page = open_view(chromium, url, "#/new")
    layers = lambda: yaml.safe_load(page.input_value("#yaml"))["model"]["layers"]  # noqa: E731
    first = layers()
    page.click("[aria-label='move model.layers.1 down']")
    assert layers() == [first[0], first[2], first[1], *first[3:]]
    page.click("[aria-label='remove model.layers.0']")
    assert layers() == [first[2], first[1], *first[3:]]
    page.select_option("[aria-label='layer to add']", "Linear")
    page.click("[id='add-model.layers']")
    assert layers()[-1] == {"Linear": {}}
    page.click(f".list-row[data-key='model.layers.{len(first) - 1}'] button[title='set out_features: n_labels']")
    assert layers()[-1] == {"Linear": {"out_features": "n_labels"}}
    args = page.locator(f"[aria-label='model.layers.{len(first) - 1} arguments']")
    args.fill("{out_features: 5, bias: false}")
    assert layers()[-1] == {"Linear": {"out_features": 5, "bias": False}}
    page.select_option("[id='f-optimizer.class_path']", "torch.optim.SGD")  # momentum is offered, betas not
    assert page.is_visible("[id='f-optimizer.init_args.momentum']")
    assert not page.is_visible("[id='f-optimizer.init_args.betas']")
    page.check("#model-mode-preset")
    config = yaml.safe_load(page.input_value("#yaml"))
    assert "layers" not in config["model"] and config["model"]["preset"] == page.input_value("[id='f-model.preset']")
    page.check("#data-mode-web")
    page.fill("#f-queries", "ants\nbees\n")
    assert yaml.safe_load(page.input_value("#yaml"))["data"]["source"] == {"scrape": {"queries": ["ants", "bees"],
                                                                                      "per_query": 50}}
    assert unexpected(page) == []
