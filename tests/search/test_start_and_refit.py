"""Where a study starts (the fit config's own values, study.enqueue) and what it hands over (refit)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from autolit.errors import UserError
from autolit.search.config import load_search_config
from autolit.search.run.budget import epoch_seconds, plan, refit_epochs_within
from autolit.search.run.devices import parse_devices
from autolit.search.run.driver import SearchRun, run_search
from autolit.search.space import parse_space
from autolit.search.start import fit_config_point
from autolit.search.storage import open_storage
from tests.search import search_stubs
from tests.search.search_configs import FIT, SPACE, real_fit_config, write_configs

# A fit config whose every searched value lies inside SPACE: two conv blocks of 8 and 12 channels.
INSIDE = copy.deepcopy(FIT)
INSIDE["model"]["layers"] = [
    {"Conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1}}, {"ReLU": {}},
    {"Conv2d": {"out_channels": 12, "kernel_size": 3, "padding": 1}}, {"ReLU": {}},
    {"Flatten": {}}, {"Linear": {"out_features": "n_labels"}},
]
INSIDE_PARAMS = {"optimizer.init_args.lr": 0.001, "data.batch_size": 32, "layers.0.repeat": 2,
                 "layers.0.0.Conv2d.out_channels": 8, "layers.0.1.Conv2d.out_channels": 12}


def _run(path: Path, tmp: Path, n: int = 3, workers: int = 1):
    run = SearchRun(cfg=load_search_config(path), storage=str(tmp / "journal.log"), study_name="stub",
                    n_trials=n, timeout=None, slots=parse_devices(f"cpu:{workers}", cores=2), runs_dir=tmp / "runs")
    return run_search(run, search_stubs.stub_factory)


def test_the_fit_configs_values_are_trial_0_and_marked(tmp_path):
    study = _run(write_configs(tmp_path, fit=INSIDE), tmp_path)
    first = study.trials[0]
    assert first.params == INSIDE_PARAMS
    assert first.user_attrs["origin"] == "fit_config"
    trained = yaml.safe_load((tmp_path / "runs" / "stub" / "trial_0" / "config.yaml").read_text())
    assert trained["model"]["layers"] == INSIDE["model"]["layers"]  # the very network the user had
    assert trained["optimizer"]["init_args"]["lr"] == 0.001 and trained["data"]["batch_size"] == 32
    assert all("origin" not in t.user_attrs for t in study.trials[1:])


def test_start_from_fit_config_false_samples_trial_0(tmp_path):
    study = _run(write_configs(tmp_path, fit=INSIDE, study={"start_from_fit_config": False}), tmp_path, n=1)
    assert "origin" not in study.trials[0].user_attrs
    assert study.trials[0].params != INSIDE_PARAMS


def test_a_rerun_does_not_enqueue_the_fit_config_again(tmp_path):
    path = write_configs(tmp_path, fit=INSIDE)
    _run(path, tmp_path, n=2)
    study = _run(path, tmp_path, n=4)
    assert [t.user_attrs.get("origin") for t in study.trials].count("fit_config") == 1


def test_values_outside_the_space_are_sampled_with_a_note():
    fit = copy.deepcopy(INSIDE)
    fit["optimizer"]["init_args"]["lr"] = 0.5                     # above high 0.1
    fit["model"]["layers"][0]["Conv2d"]["out_channels"] = 10       # off the step-4 grid
    point = fit_config_point(parse_space(SPACE), fit)
    assert point.params == {"data.batch_size": 32}
    assert any("optimizer.init_args.lr" in n and "0.5" in n for n in point.notes)
    assert any("model.layers" in n and "10" in n for n in point.notes)


def test_enqueued_points_run_after_the_fit_config_and_are_marked(tmp_path):
    point = {"optimizer.init_args.lr": 0.01, "layers.0.repeat": 1, "layers.0.0.Conv2d.out_channels": 16}
    study = _run(write_configs(tmp_path, fit=INSIDE, study={"enqueue": [point]}), tmp_path, n=3)
    assert [t.user_attrs.get("origin") for t in study.trials[:2]] == ["fit_config", "enqueued"]
    assert {k: study.trials[1].params[k] for k in point} == point
    assert study.trials[1].state == TrialState.COMPLETE


@pytest.mark.parametrize("point, message", [
    ({"optimizer.lr": 0.01}, "study.enqueue[0]: 'optimizer.lr' is not a parameter of the space"),
    ({"layers.0.repeat": 1, "layers.0.2.Conv2d.out_channels": 8}, "'layers.0.2.Conv2d.out_channels' is not a "
                                                                  "parameter"),
    ({"data.batch_size": 64}, "study.enqueue[0].data.batch_size is 64, outside the space (one of [16, 32])"),
    ({"optimizer.init_args.lr": "1e-3"}, "study.enqueue[0].optimizer.init_args.lr is '1e-3', outside"),
])
def test_enqueue_mistakes_name_the_key(tmp_path, point, message):
    with pytest.raises(UserError, match=re.escape(message)):
        load_search_config(write_configs(tmp_path, study={"enqueue": [point]}))


def test_start_from_fit_config_must_be_a_boolean(tmp_path):
    with pytest.raises(UserError, match="study.start_from_fit_config is 'yes': give true or false"):
        load_search_config(write_configs(tmp_path, study={"start_from_fit_config": "yes"}))


def test_the_table_and_report_mark_the_start_points(tmp_path):
    from autolit.search.report import write_report
    from autolit.search.status import format_table

    study = _run(write_configs(tmp_path, fit=INSIDE), tmp_path, n=2)
    table = format_table(study)
    assert "0 fit" in table and "fit = trial of the fit config's own values" in table
    write_report(study, tmp_path / "report")
    records = json.loads((tmp_path / "report" / "trials.json").read_text())
    assert {r["number"]: r["origin"] for r in records} == {0: "fit_config", 1: None}
    assert "fit config</small>" in (tmp_path / "report" / "index.html").read_text()


# --- refit ---------------------------------------------------------------------------------------

def _fake_refit(config: dict, *, run_dir: Path, callbacks=(), test: bool = True, progress: bool = True):
    """The refit's fit, faked: keeps the config it got, tests with a made-up figure."""
    assert test and not callbacks
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / "best.ckpt").write_bytes(b"fake")
    return search_stubs.FakeResult({"val/acc": 0.9, "test/acc": 0.88}, run_dir / "best.ckpt", run_dir, config)


def test_study_refit_trains_the_best_trial_again_at_its_budget(tmp_path):
    fit = copy.deepcopy(INSIDE)
    fit["lr_scheduler"] = {"class_path": "torch.optim.lr_scheduler.CosineAnnealingLR", "init_args": {"T_max": 3}}
    path = write_configs(tmp_path, fit=fit, study={"refit": {"max_epochs": 7, "data.batch_size": 64}})
    run = SearchRun(cfg=load_search_config(path), storage=str(tmp_path / "journal.log"), study_name="stub",
                    n_trials=2, timeout=None, slots=parse_devices("cpu:1", cores=2), runs_dir=tmp_path / "runs")
    study = run_search(run, search_stubs.stub_factory, refit_fit=_fake_refit)
    record = study.user_attrs["refit"]
    best = max((t for t in study.trials if t.value is not None), key=lambda t: t.value)
    assert record["trial"] == best.number and record["trial_value"] == best.value and record["max_epochs"] == 7
    trained = yaml.safe_load((tmp_path / "runs" / "stub" / "refit" / "config.yaml").read_text())
    assert trained["trainer"]["max_epochs"] == 7 and trained["data"]["batch_size"] == 64
    assert trained["lr_scheduler"]["init_args"]["T_max"] == 7  # the cosine follows the refit's epochs
    assert trained["optimizer"]["init_args"]["lr"] == best.params["optimizer.init_args.lr"]
    assert record["metrics"] == {"val/acc": 0.9, "test/acc": 0.88}


@pytest.mark.parametrize("refit, message", [
    ({"max_epochs": 0}, "study.refit.max_epochs is 0: give a whole number of epochs >= 1"),
    ({"epochs": 3}, "study.refit: key 'epochs' is neither max_epochs nor a dotted key"),
    ([3], "study.refit is [3]: give a mapping like {max_epochs: 20}"),
])
def test_refit_mistakes_name_the_key(tmp_path, refit, message):
    with pytest.raises(UserError, match=re.escape(message)):
        load_search_config(write_configs(tmp_path, study={"refit": refit}))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autolit.search", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_search_best_refit_writes_a_tested_model_the_report_and_export_use(tmp_path, tiny_store):
    path = write_configs(tmp_path, fit=real_fit_config(tiny_store), space=SPACE,
                         study={"name": "tiny", "pruner": {"type": "NopPruner"}})
    journal = str(tmp_path / "runs" / "tiny" / "journal.log")
    run = _cli("--config", str(path), "--n-trials", "2", "--devices", "cpu:1", "--runs-dir",
               str(tmp_path / "runs"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    study_args = ("--storage", journal, "--study-name", "tiny")
    refit = _cli("best", *study_args, "--refit", "--max-epochs", "3", cwd=tmp_path)
    assert refit.returncode == 0, refit.stderr[-3000:]
    assert "refit of trial" in refit.stdout and "test/acc=" in refit.stdout

    study = optuna.load_study(study_name="tiny", storage=open_storage(journal))
    record = study.user_attrs["refit"]
    assert record["max_epochs"] == 3 and 0.0 <= record["metrics"]["test/acc"] <= 1.0
    assert Path(record["checkpoint"]).is_file() and Path(record["run_dir"]) == tmp_path / "runs" / "tiny" / "refit"
    assert record["trial_value"] == study.best_value and "val/acc" in record["metrics"]
    assert not any(k.startswith("test/") for t in study.trials for k in t.user_attrs.get("metrics", {}))

    report = _cli("report", *study_args, "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    summary = json.loads((tmp_path / "report" / "study.json").read_text())
    assert summary["refit"]["metrics"]["test/acc"] == record["metrics"]["test/acc"]
    assert summary["best_trial"]["value"] == study.best_value
    page = (tmp_path / "report" / "index.html").read_text()
    assert f"refit of trial {record['trial']}</b> at 3 epochs: test/acc = {record['metrics']['test/acc']:.4f}" in page
    assert f"trial {record['trial']}&#x27;s val/acc = {study.best_value:.4f}" in page or \
        f"trial {record['trial']}'s val/acc = {study.best_value:.4f}" in page

    status = _cli("status", *study_args, cwd=tmp_path)
    assert f"refit of trial {record['trial']} (3 epochs" in status.stdout
    export = _cli("best", *study_args, "--export", str(tmp_path / "out"), "--format", "torchscript", cwd=tmp_path)
    assert export.returncode == 0, export.stderr[-3000:]
    assert f"exporting the refit of trial {record['trial']}" in export.stdout
    assert json.loads((tmp_path / "out" / "metadata.json").read_text())["checkpoint"] == record["checkpoint"]


def test_max_epochs_needs_refit(tmp_path):
    bad = _cli("best", "--storage", str(tmp_path / "j.log"), "--study-name", "x", "--max-epochs", "3", cwd=tmp_path)
    assert bad.returncode == 2 and "--max-epochs 3: give 1 or more epochs, together with --refit" in bad.stderr


# --- a --timeout is a budget, refit included ----------------------------------------------------

def test_the_plan_keeps_the_refits_share_and_one_trial_before_it():
    measured = plan(1000.0, 100.0, 2.0, trial_epochs=3, refit_epochs=10, n_trials=8, n_slots=2)
    assert measured.refit_start == pytest.approx(1000 - 2 * 10 * 1.15)
    assert measured.trials_deadline == pytest.approx(1000 - 2 * 10 * 1.15 - 2 * 3 * 1.15)
    # Nothing measured yet: the refit keeps 10 of the 10 + 3 * 4 epochs the run would train.
    blind = plan(1000.0, 100.0, None, trial_epochs=3, refit_epochs=10, n_trials=8, n_slots=2)
    assert blind.trials_deadline == blind.refit_start == pytest.approx(1000 - 100 * 10 / 22)
    no_refit = plan(1000.0, 100.0, 2.0, trial_epochs=3, refit_epochs=0, n_trials=8, n_slots=2)
    assert no_refit.refit_start == 1000.0 and no_refit.trials_deadline == pytest.approx(1000 - 6.9)


def test_a_refit_that_cannot_fit_is_shortened_and_says_so():
    assert refit_epochs_within(1000.0, 2.0, 10, now=900.0) == (10, "")
    epochs, note = refit_epochs_within(1000.0, 2.0, 10, now=990.0)  # 9 s of training at 2.3 s per epoch
    assert epochs == 3 and note == ("shortened from 10 to 3 epoch(s) to end within the --timeout budget: "
                                    "10s left at about 2.0s per epoch")
    assert refit_epochs_within(1000.0, 2.0, 10, now=999.9)[0] == 1  # at least one epoch
    assert refit_epochs_within(1000.0, None, 10, now=999.9) == (10, "")  # nothing measured: max_time stops it


def test_epoch_seconds_come_from_trials_that_trained():
    def trial(seconds: float, epochs: int, state=TrialState.COMPLETE) -> optuna.trial.FrozenTrial:
        start = datetime(2026, 1, 1)
        return optuna.trial.FrozenTrial(number=0, trial_id=0, state=state, value=None, values=None, params={},
                                        distributions={}, user_attrs={}, system_attrs={},
                                        intermediate_values={e: 0.5 for e in range(epochs)}, datetime_start=start,
                                        datetime_complete=start + timedelta(seconds=seconds))

    assert epoch_seconds([]) is None
    assert epoch_seconds([trial(6, 3), trial(4, 1, TrialState.PRUNED), trial(9, 0, TrialState.PRUNED)]) == 3.0


def test_a_timeout_run_plans_the_trials_and_gives_the_refit_what_is_left(tmp_path):
    fit = copy.deepcopy(INSIDE)
    fit["stub"] = {"sleep": 0.2, "epochs": 3}
    path = write_configs(tmp_path, fit=fit, study={"refit": {"max_epochs": 20}})
    run = SearchRun(cfg=load_search_config(path), storage=str(tmp_path / "journal.log"), study_name="stub",
                    n_trials=50, timeout=60.0, slots=parse_devices("cpu:1", cores=2), runs_dir=tmp_path / "runs")
    study = run_search(run, search_stubs.stub_factory, refit_fit=_fake_refit)
    assert 1 <= len([t for t in study.trials if t.state == TrialState.COMPLETE]) < 50  # the plan ended them
    planned = [k for k in study.user_attrs if k.startswith("trials_deadline:")]
    assert len(planned) == 1 and study.user_attrs[planned[0]] < run.started + 60
    record = study.user_attrs["refit"]
    trained = yaml.safe_load((tmp_path / "runs" / "stub" / "refit" / "config.yaml").read_text())
    assert trained["trainer"]["max_epochs"] == record["max_epochs"] <= 20
    assert 1 <= trained["trainer"]["max_time"]["seconds"] <= 60 * 0.9  # Lightning stops it at the budget
    assert (record["max_epochs"] < 20) == record["note"].startswith("shortened from 20 to")


def test_workers_stop_at_the_last_start_their_launch_planned(tmp_path):
    from dataclasses import replace

    from autolit.search.run.budget import deadline_attr
    from autolit.search.run.driver import make_jobs, open_study
    from autolit.search.run.worker import _last_start
    from autolit.search.storage import worker_tag

    run = SearchRun(cfg=load_search_config(write_configs(tmp_path)), storage=str(tmp_path / "journal.log"),
                    study_name="stub", n_trials=2, timeout=100.0, slots=parse_devices("cpu:1", cores=2),
                    runs_dir=tmp_path / "runs")
    study = open_study(run)
    job = make_jobs(run, study)[0]
    assert _last_start(job, study) == job.deadline == run.started + 100
    study.set_user_attr(deadline_attr(worker_tag(job.parent_pid)), run.started + 5)
    assert _last_start(job, study) == run.started + 5
    assert _last_start(replace(job, parent_pid=job.parent_pid + 1), study) == job.deadline  # another launch's
