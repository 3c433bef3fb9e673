"""``search report`` on studies made with Optuna directly: files, leaderboard, importances with a
repeat block, best.yaml rebuilt from the search config, the page in headless Chromium, CLI errors."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import optuna
import pytest
import yaml

from autolit.search.records import param_order
from autolit.search.report import write_report
from autolit.search.report.plots import importances, snapshot
from autolit.search.storage import open_storage
from tests import browser
from tests.search import report_page
from tests.search.search_configs import write_configs
from tests.search.synthetic_study import make_study


@pytest.fixture
def study(tmp_path) -> optuna.Study:
    return make_study(open_storage(str(tmp_path / "journal.log")), "syn", 60)


def test_report_writes_page_tables_and_every_figure(tmp_path, study):
    out = tmp_path / "report"
    report = write_report(study, out)
    assert report.n_trials == 60
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 60 and {r["state"] for r in rows} == {"COMPLETE", "PRUNED", "FAIL", "RUNNING"}
    assert "layers.0.2.Conv2d.out_channels" in rows[0] and rows[0]["rank"] == "1"  # every parameter, best first
    pruned = next(r for r in rows if r["outcome"] == "pruned")
    assert pruned["detail"] == f"epoch {pruned['outcome_epoch']}" and pruned["epochs"] != "0"
    assert {r["outcome"] for r in rows if r["state"] == "PRUNED"} == {"pruned", "infeasible"}
    running = next(r for r in rows if r["state"] == "RUNNING")
    assert running["slot"].startswith("cpu#") and running["n_layers"] and running["n_params"]
    records = json.loads((out / "trials.json").read_text())
    best = max((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert len(records) == 60 and records[0]["number"] == best.number and records[0]["params"] == best.params
    assert list(records[0]["params"]) == sorted(best.params, key=param_order)  # scalars, then spec order
    page = (out / "index.html").read_text()
    for key in ("history", "curves", "parallel", "slices", "importances", "timeline"):
        assert f"data-key='{key}'" in page, key
    assert "http://" not in page and "https://" not in page  # nothing from a CDN
    assert (out / "plotly.min.js").stat().st_size > 1_000_000
    for r in records:  # no truncation: every parameter of every trial is on the page
        for name, value in r["params"].items():
            assert f"{name}=" in page


def test_importances_with_a_repeat_block_say_what_they_cover(study):
    snap = snapshot(study, study.get_trials())
    figure, values = importances(snap, "val/acc")
    assert figure.figure is not None and values
    assert "fANOVA over the" in figure.caption and "parameter(s) every one of them has" in figure.caption
    assert "layers.0.2.Conv2d.out_channels" not in figure.caption  # conditional: not every trial has it
    assert "layers.0.0.Conv2d.out_channels" in figure.caption
    per_count = {f.title: f for f in figure.extra}
    assert "Importances with layers.0.repeat=3" in per_count
    three = per_count["Importances with layers.0.repeat=3"]
    assert three.figure is not None and "shared parameter(s)" in three.caption
    assert "layers.0.2.Conv2d.out_channels" in [str(y) for y in three.figure.data[0].y]


def test_importances_of_too_few_trials_are_a_note_not_an_error(tmp_path):
    study = make_study(None, "tiny", 3)
    figure, values = importances(snapshot(study, study.get_trials()), "val/acc")
    assert values == {} and figure.figure is None and figure.caption


@pytest.mark.parametrize("folder", ["gone", "damaged"])
def test_best_yaml_is_rebuilt_from_the_search_config_without_a_readable_trial_folder(tmp_path, folder):
    path = write_configs(tmp_path)
    if folder == "damaged":
        (tmp_path / "elsewhere" / "trial_0").mkdir(parents=True)
        (tmp_path / "elsewhere" / "trial_0" / "resolved.yaml").write_bytes(b"model: [unclosed\n\xff")
    study = optuna.create_study(study_name="stub", storage=open_storage(str(tmp_path / "j.log")), direction="maximize")
    study.set_user_attr("search_config", str(path))
    study.set_user_attr("cwd", str(tmp_path))
    trial = study.ask()
    trial.suggest_float("optimizer.init_args.lr", 1e-4, 1e-1, log=True)
    trial.suggest_categorical("data.batch_size", [16, 32])
    trial.suggest_int("layers.0.repeat", 1, 3)
    for i in range(trial.params["layers.0.repeat"]):
        trial.suggest_int(f"layers.0.{i}.Conv2d.out_channels", 4, 16, step=4)
    trial.set_user_attr("run_dir", str(tmp_path / "elsewhere" / "trial_0"))
    study.tell(trial, 0.9)
    write_report(study, tmp_path / "out")
    best = yaml.safe_load((tmp_path / "out" / "best.yaml").read_text())
    assert best["optimizer"]["init_args"]["lr"] == trial.params["optimizer.init_args.lr"]
    convs = [layer for layer in best["model"]["layers"] if "Conv2d" in layer]
    assert len(convs) == trial.params["layers.0.repeat"]
    assert best["seed_everything"] == 0 and "logger" not in best.get("trainer", {})


@pytest.mark.skipif(browser.available() is not None, reason=str(browser.available()))
def test_page_renders_every_plot_offline_without_javascript_errors(tmp_path, study):
    out = tmp_path / "report"
    write_report(study, out)
    verdict = report_page.render(out / "index.html")
    assert verdict["errors"] == []
    assert len(verdict["plots"]) >= 7  # 6 figures + importances per layer count
    assert all(p["svg"] or p["canvas"] for p in verdict["plots"]), verdict["plots"]
    assert verdict["rendered"] == str(len(verdict["plots"]))
    shot = report_page.screenshot(out / "index.html", tmp_path / "shot.png", height=2000)
    assert shot.stat().st_size > 50_000  # a page with pictures, not a blank one


@pytest.mark.skipif(browser.available() is not None, reason=str(browser.available()))
def test_the_collector_sees_a_page_whose_script_is_missing(tmp_path, study):
    """The check above can fail: without plotly.min.js nothing renders and the errors say why."""
    out = tmp_path / "report"
    write_report(study, out)
    (out / "plotly.min.js").unlink()
    verdict = report_page.render(out / "index.html")
    assert any("plotly.min.js" in e for e in verdict["errors"]) and verdict["rendered"] is None
    assert not any(p["svg"] for p in verdict["plots"])


def _study_with_pictures(tmp_path) -> optuna.Study:
    """One complete trial whose run folder holds real TensorBoard pictures, drawn by the fit's own
    callbacks' functions: a 10-class (digits) confusion matrix and a 32-image sample sheet."""
    import numpy as np
    import torch
    from torch.utils.tensorboard import SummaryWriter

    from autolit.training.callbacks import sample_sheet
    from autolit.training.figures import confusion_figure, to_rgb

    run_dir = tmp_path / "trial_0"
    run_dir.mkdir()
    (run_dir / "resolved.yaml").write_text(yaml.safe_dump({"model": {"task": "multiclass"}}))
    rng = np.random.default_rng(0)
    matrix = np.array([rng.multinomial(36, np.where(np.arange(10) == i, 0.9, 0.1 / 9)) for i in range(10)])
    x = torch.from_numpy(rng.integers(0, 256, (32, 1, 8, 8), dtype=np.uint8))
    y = torch.arange(32) % 10
    names = [str(i) for i in range(10)]
    predicted = [(v + 1) % 10 if i % 5 == 0 else v for i, v in enumerate(y.tolist())]  # some wrong
    with SummaryWriter(str(run_dir)) as writer:
        writer.add_image("val/confusion_matrix", to_rgb(confusion_figure(matrix, names, epochs=3)), global_step=3,
                         dataformats="HWC")
        writer.add_image("samples/val", np.asarray(sample_sheet(x, y, names, predicted, 72, 8)), global_step=3,
                         dataformats="HWC")
    study = optuna.create_study(study_name="pics", storage=open_storage(str(tmp_path / "j.log")), direction="maximize")
    trial = study.ask()
    trial.suggest_float("optimizer.init_args.lr", 1e-4, 1e-1, log=True)
    trial.set_user_attr("run_dir", str(run_dir))
    study.tell(trial, 0.9)
    return study


def test_the_pictures_are_embedded_at_their_native_size(tmp_path):
    from PIL import Image

    out = tmp_path / "report"
    report = write_report(_study_with_pictures(tmp_path), out)
    assert set(report.best.images.values()) == {"best_confusion_matrix.png", "best_samples.png"}
    page = (out / "index.html").read_text()
    for name in report.best.images.values():
        width, height = Image.open(out / name).size
        assert f"<img class=picture src='{name}' width={width} height={height}" in page
    assert "max-width:30%" not in page


@pytest.mark.skipif(browser.available() is not None, reason=str(browser.available()))
def test_chromium_shows_the_confusion_matrix_at_its_native_width(tmp_path):
    """Was: ``img{max-width:30%}``, the 6 px counts shown at a third. Drawn ≥ 12 px at native size
    (tests/training/test_callbacks.py), shown at native size: ≥ 12 CSS px on the page."""
    out = tmp_path / "report"
    write_report(_study_with_pictures(tmp_path), out)
    verdict = report_page.render(out / "index.html", viewport={"width": 1280, "height": 900})
    assert verdict["errors"] == []
    pictures = {p["alt"]: p for p in verdict["pictures"]}
    assert set(pictures) == {"val/confusion_matrix", "samples/val"}
    for p in pictures.values():
        assert p["complete"] and p["natural_width"] > 400, p
        assert p["shown_width"] >= p["natural_width"] and p["shown_height"] >= p["natural_height"], p


@pytest.mark.skipif(browser.available() is not None, reason=str(browser.available()))
def test_the_browser_has_no_network_and_says_what_it_blocked(tmp_path):
    """The checks above can fail on a page that reaches out: its request is aborted and reported."""
    page = tmp_path / "cdn.html"
    page.write_text("<!doctype html><html><head><script src='https://cdn.example.com/plotly.js'></script>"
                    "<img src='http://93.184.215.14/x.png'></head><body data-rendered=0></body></html>")
    verdict = report_page.render(page)
    assert any(e.startswith("blocked (network is off): https://cdn.example.com/") for e in verdict["errors"])
    assert any("93.184.215.14" in e for e in verdict["errors"])


def _report_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autolit.search", "report", *args], capture_output=True,
                          text=True, timeout=120)


def test_report_of_a_missing_study_or_storage_is_one_line_exit_2(tmp_path, study):
    journal = str(tmp_path / "journal.log")
    cases = [
        (["--storage", journal, "--study-name", "nope"], r"error: --study-name nope: not in .*journal\.log; studies there: \['syn'\]"),
        (["--storage", str(tmp_path / "none.log"), "--study-name", "syn"], r"error: --storage .*none\.log does not exist"),
        (["--storage", "sqlite:///x.db", "--study-name", "syn"], r"error: --storage sqlite:///x\.db: SQLite"),
        (["--storage", "postgresql://u:secret@127.0.0.1:9/db", "--study-name", "syn"],
         r"error: --storage postgresql://u:\*\*\*@127\.0\.0\.1:9/db: cannot connect"),
    ]
    for args, pattern in cases:
        proc = _report_cli(*args, "--out", str(tmp_path / "out"))
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and re.match(pattern, lines[0]), lines
        assert "secret" not in proc.stderr


def test_report_cli_writes_the_folder(tmp_path, study):
    proc = _report_cli("--storage", str(tmp_path / "journal.log"), "--study-name", "syn", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("report of 60 trials in ") and (tmp_path / "o" / "index.html").is_file()
    blocked = tmp_path / "file"
    blocked.write_text("x")
    proc = _report_cli("--storage", str(tmp_path / "journal.log"), "--study-name", "syn", "--out", str(blocked / "o"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: --out ") and "cannot create the folder" in proc.stderr


def test_best_yaml_of_a_retried_trial_has_the_seed_its_fit_ran_with(tmp_path):
    """A retry replays the seed of the trial it retries; best.yaml rebuilt for it used its own number."""
    from autolit.search.config import load_search_config
    from autolit.search.report.best import write_best
    from autolit.search.run.devices import Slot
    from autolit.search.run.objective import Objective
    from tests.search.search_stubs import stub_info

    path = write_configs(tmp_path, study={"seed": 7}, space={
        "optimizer.init_args.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}})
    study = optuna.create_study(study_name="stub", direction="maximize")
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)  # trial 0: its worker died
    study.enqueue_trial({"optimizer.init_args.lr": 0.01}, user_attrs={"retry_of": 0})
    trial = study.ask()
    objective = Objective(load_search_config(path), Slot(index=0, accelerator="cpu"), tmp_path / "runs",
                          fit=None, data_info=stub_info, log_output=False)
    ran_with = objective.trial_config(trial)["seed_everything"]
    study.tell(trial, 0.9)
    write_best(study.trials[1], {"search_config": str(path), "_name": "stub"}, tmp_path)
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert ran_with == best["seed_everything"] == 7
