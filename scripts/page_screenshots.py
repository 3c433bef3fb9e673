"""Screenshots of every view of the page (docs/serve.md's), from real jobs on a real server.

    python scripts/page_screenshots.py                 # docs/page_*.png: digits fits, a search, predictions
    python scripts/page_screenshots.py --smallest --out /tmp/shots   # what CI runs: two tiny fits

A ``python -m autolit.serve`` on a temporary home runs the jobs (full: two digits fits of 3 epochs
with different learning rates, one that fails (a binary task on the 10 digits), and the digits search with 3 trials of 1
epoch; smallest: two tiny fits of the synthetic store), then headless Chromium (tests/browser.py,
network off) takes each view at 1280 px: jobs, new run, job page (curves, results, predictions of
three uploaded test PNGs), compare, new search, the search job; and the jobs list at phone width.
Any JavaScript error or failed request fails the script (exit 1). Last line: JSON of the files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def digits(epochs: int, lr: float) -> dict:
    fit = yaml.safe_load((REPO / "configs" / "digits.yaml").read_text())
    fit["trainer"]["max_epochs"] = epochs
    fit["lr_scheduler"]["init_args"]["T_max"] = epochs
    fit["optimizer"]["init_args"]["lr"] = lr
    return fit


def failing() -> dict:
    """Passes the config checks; the fit refuses it once it reads the 10-label store (one error line)."""
    fit = digits(1, 0.002)
    fit["model"]["task"] = "binary"
    return fit


def digits_search() -> dict:
    search = yaml.safe_load((REPO / "configs" / "search" / "digits.yaml").read_text())
    search["study"]["n_trials"] = 3
    search["overrides"] = {"trainer.max_epochs": 1, "trainer.limit_train_batches": 10, "lr_scheduler.init_args.T_max": 1}
    return search


def submit_jobs(client, data_root: Path, smallest: bool) -> dict[str, int]:
    """The jobs the views show, run to their end; their ids by role."""
    from tests.serve.server import job_request, tiny_fit, wait_for

    if smallest:
        ids = {role: client.post("/api/jobs", json=job_request(tiny_fit(data_root / "tiny", max_epochs=e),
                                                                f"tiny-{e}")).json()["id"]
               for role, e in (("fit", 2), ("other", 1))}
        for job_id in ids.values():
            wait_for(client, job_id, {"succeeded"})
        return ids
    ids = {"fit": client.post("/api/jobs", json=job_request(digits(3, 0.002), "digits")).json()["id"],
           "other": client.post("/api/jobs", json=job_request(digits(3, 0.01), "digits-lr0.01")).json()["id"],
           "failed": client.post("/api/jobs", json=job_request(failing(), "digits-binary")).json()["id"],
           "search": client.post("/api/jobs", json=job_request(
               digits_search(), "digits-search", kind="search",
               fit_config=(REPO / "configs" / "digits.yaml").read_text())).json()["id"]}
    for job_id in ids.values():
        wait_for(client, job_id, {"succeeded", "failed"}, timeout=1200)
    return ids


def test_pngs(client, job_id: int, out: Path) -> list[Path]:
    """Three test-split images of the fit's store (``autolit.store extract``)."""
    folder = client.get(f"/api/jobs/{job_id}").json()["folder"]
    store = yaml.safe_load((Path(folder) / "fit.yaml").read_text())["data"]["store"]
    subprocess.run([sys.executable, "-m", "autolit.store", "extract", store, "--split", "test", "--n", "3",
                    "--out", str(out)], check=True, capture_output=True, cwd=REPO)
    return sorted(out.rglob("*.png"))


def shoot(chromium, url: str, ids: dict[str, int], pngs: list[Path], out: Path) -> list[str]:
    """Every view's PNG in ``out``; returns the page errors."""
    from tests import browser

    errors: list[str] = []
    views = [("jobs", "#/jobs", None), ("new", "#/new", None), ("search_form", "#/search", None),
             ("compare", f"#/compare?ids={ids['fit']},{ids['other']}&tag=val/acc", None),
             ("job", f"#/job/{ids['fit']}", "predict")]
    if "search" in ids:
        views.append(("search_job", f"#/job/{ids['search']}", None))
    for name, hash_, extra in views:
        page = browser.open_page(chromium, f"{url}/{hash_}")
        page.wait_for_selector("#view[data-ready]", timeout=60_000)
        if extra == "predict":
            page.wait_for_selector("#test-panel")
            page.set_input_files("#predict-files", [str(p) for p in pngs])
            page.wait_for_selector(f"#predictions figure:nth-child({len(pngs)})", timeout=180_000)
            page.click("#show-samples")
            page.wait_for_selector("#samples figure", timeout=120_000)
        if name == "compare":
            page.wait_for_selector("#compare-chart canvas")
        time.sleep(0.8)  # the charts' last draw
        page.add_style_tag(content="header.top { position: static; }")  # once at the top of a full page
        browser.shot(page, out / f"page_{name}.png", full_page=name in ("job", "new"))
        errors += page.errors
        page.context.close()
    phone = browser.open_page(chromium, f"{url}/#/jobs", {"width": 390, "height": 760})
    phone.wait_for_selector("#view[data-ready=jobs]")
    browser.shot(phone, out / "page_phone.png")
    errors += phone.errors
    return errors


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "docs", help="folder for page_*.png (default docs/)")
    p.add_argument("--smallest", action="store_true", help="two tiny fits of the synthetic store (CI)")
    args = p.parse_args()
    from tests import browser
    from tests.serve.server import Server
    from tests.synthetic import write_store

    if browser.available():
        print(f"error: {browser.available()}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="page-shots-"))
    (tmp / "data").mkdir()
    write_store(tmp / "data" / "tiny")
    (tmp / "home").mkdir()
    server = Server(tmp / "home", tmp / "data", "--slots", "2").start()
    try:
        with server.client() as client:
            ids = submit_jobs(client, tmp / "data", args.smallest)
            pngs = test_pngs(client, ids["fit"], tmp / "pngs")
            with browser.browser() as chromium:
                errors = shoot(chromium, server.url, ids, pngs, args.out)
    finally:
        server.stop()
    files = sorted(str(p.relative_to(args.out)) for p in args.out.glob("page_*.png"))
    print(f"{len(files)} screenshots in {args.out}; page errors: {errors or 'none'}")
    print(json.dumps({"page_screenshots": {"out": str(args.out), "files": files, "errors": errors}}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
