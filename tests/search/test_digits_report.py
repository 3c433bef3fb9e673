"""The README's digits search end to end (shortened epochs): a quiet terminal with one line per
finished trial, each trial's own log, then ``report`` and a fit of its best.yaml."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from autolit.search.storage import open_storage
from tests import browser
from tests.search import report_page

REPO = Path(__file__).resolve().parents[2]
BANNERS = ("GPU available", "TPU available", "LitLogger", "configure_optimizers")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.mark.slow
def test_digits_search_terminal_logs_report_and_best_yaml(tmp_path):
    search = yaml.safe_load((REPO / "configs" / "search" / "digits.yaml").read_text())
    search["fit_config"] = str(REPO / "configs" / "digits.yaml")
    search["overrides"].update({"trainer.max_epochs": 2, "trainer.limit_train_batches": 6,
                                "lr_scheduler.init_args.T_max": 2})
    config = tmp_path / "digits.yaml"
    config.write_text(yaml.safe_dump(search, sort_keys=False))
    run = _run("autolit.search", "--config", str(config), "--n-trials", "4", "--devices", "cpu:2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    terminal = run.stdout + run.stderr
    assert not [line for line in terminal.splitlines() if any(b in line for b in BANNERS)], terminal

    journal = tmp_path / "runs" / "search" / "digits" / "journal.log"
    trials = optuna.load_study(study_name="digits", storage=open_storage(str(journal))).get_trials()
    finished = sorted(t.number for t in trials if t.state.is_finished())
    lines = [line for line in run.stdout.splitlines() if line.startswith("trial ")]
    assert sorted(int(line.split()[1]) for line in lines) == finished  # one line per finished trial
    for line in lines:
        assert re.match(r"trial \d+ \[cpu#[01]\] (COMPLETE val/acc=0\.\d{4}|PRUNED .+) \(\d epochs?, [\dm.]+s\)"
                        r"( best=0\.\d{4} #\d+)?$", line), line
    for t in trials:
        if t.user_attrs.get("run_dir"):  # trained (not pruned on the meta device): its output is in its log
            log = (Path(t.user_attrs["run_dir"]) / "trial.log").read_text()
            assert "GPU available" in log and "Seed set to" in log  # Lightning's own lines: kept, but here
            assert "configure_optimizers" not in log  # build_cli silences the notice the config causes on purpose

    out = tmp_path / "report"
    report = _run("autolit.search", "report", "--storage", str(journal), "--study-name", "digits", "--out",
                  str(out), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert len(list(csv.DictReader((out / "trials.csv").open()))) == len(trials)
    assert (out / "best_confusion_matrix.png").is_file() and (out / "best_samples.png").is_file()
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert Path(best["data"]["store"]).is_absolute() and "logger" not in best["trainer"]
    fit = _run("autolit.fit", "--config", str(out / "best.yaml"), "--trainer.max_epochs=1", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert "test/acc" in fit.stdout and (tmp_path / "runs" / "best" / "version_0").is_dir()
    assert "GPU available" in fit.stdout + fit.stderr  # autolit.fit alone keeps Lightning's output
    if browser.available() is None:
        verdict = report_page.render(out / "index.html")
        assert verdict["errors"] == [] and all(p["svg"] or p["canvas"] for p in verdict["plots"])
        pictures = {p["alt"]: p for p in verdict["pictures"]}  # the real best trial's pictures, unshrunk
        assert set(pictures) == {"val/confusion_matrix", "samples/val"}
        assert all(p["complete"] and p["shown_width"] >= p["natural_width"] > 400 for p in pictures.values())
