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

import chromium
from search_configs import write_configs
from synthetic_study import make_study


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


@pytest.mark.skipif(chromium.chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_page_renders_every_plot_offline_without_javascript_errors(tmp_path, study):
    out = tmp_path / "report"
    write_report(study, out)
    verdict = chromium.render(out / "index.html")
    assert verdict["errors"] == []
    assert len(verdict["plots"]) >= 7  # 6 figures + importances per layer count
    assert all(p["svg"] or p["canvas"] for p in verdict["plots"]), verdict["plots"]
    assert verdict["rendered"] == str(len(verdict["plots"]))
    shot = chromium.screenshot(out / "index.html", tmp_path / "shot.png", height=2000)
    assert shot.stat().st_size > 50_000  # a page with pictures, not a blank one


@pytest.mark.skipif(chromium.chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_the_collector_sees_a_page_whose_script_is_missing(tmp_path, study):
    """The check above can fail: without plotly.min.js nothing renders and the errors say why."""
    out = tmp_path / "report"
    write_report(study, out)
    (out / "plotly.min.js").unlink()
    verdict = chromium.render(out / "index.html")
    assert any("plotly.min.js" in e for e in verdict["errors"]) and verdict["rendered"] is None
    assert not any(p["svg"] for p in verdict["plots"])


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
    from search_stubs import stub_info

    from autolit.search.config import load_search_config
    from autolit.search.run.devices import Slot
    from autolit.search.run.objective import Objective
    from autolit.search.report.best import write_best

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
