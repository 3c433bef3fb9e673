"""What a search checks before any trial: the config trials get (overrides applied), the task's
metric and direction, the storage it is given (damaged journals, places it cannot write)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from autolit.errors import UserError
from autolit.search.__main__ import main
from autolit.search.storage import open_storage
from tests.search import search_stubs
from tests.search.search_configs import FIT, SPACE, write_configs

REPO = Path(__file__).resolve().parents[2]


def test_probe_reads_the_overridden_store_and_never_the_fit_configs_own(tmp_path, tiny_store):
    """overrides {data.store: S, data.source: null}: the fit config's store is never read or created."""
    own = tmp_path / "mnist-store"
    fit = {**FIT, "data": {"store": str(own), "source": f"idx:{tmp_path / 'no-such-mnist'}", "batch_size": 8}}
    space = {**SPACE, "model.layers": [{"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}]}
    path = write_configs(tmp_path, fit=fit, space=space,
                         extra={"overrides": {"data.store": str(tiny_store), "data.source": None}})
    code = main(["--config", str(path), "--n-trials", "2", "--devices", "cpu:1", "--storage",
                 str(tmp_path / "j.log"), "--runs-dir", str(tmp_path / "runs")], factory=search_stubs.stub_factory)
    assert code == 0
    assert not own.exists()  # before: the probe imported the fit config's source into it (here: absent, exit 2)
    trials = optuna.load_study(study_name="stub", storage=open_storage(str(tmp_path / "j.log"))).get_trials()
    assert len(trials) == 2


def test_a_search_over_digits_rotation_without_a_metric_minimises_val_mae(tmp_path):
    search = {
        "fit_config": str(REPO / "configs" / "digits_rotation.yaml"),
        "study": {"name": "rot", "n_trials": 2, "pruner": {"type": "NopPruner"}},
        "overrides": {"trainer.max_epochs": 1, "trainer.limit_train_batches": 3, "trainer.limit_val_batches": 2,
                      "lr_scheduler.init_args.T_max": 1, "data.store": str(tmp_path / "rotation")},
        "space": {"optimizer.init_args.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
    }
    path = tmp_path / "rot.yaml"
    path.write_text(yaml.safe_dump(search))
    proc = subprocess.run([sys.executable, "-m", "autolit.search", "--config", str(path), "--devices", "cpu:1",
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=400,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="rot", storage=open_storage(str(tmp_path / "runs" / "rot" / "journal.log")))
    assert study.direction == optuna.study.StudyDirection.MINIMIZE and study.user_attrs["metric"] == "val/mae"
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 2 and all(t.value == t.user_attrs["metrics"]["val/mae"] for t in done)
    assert "(minimize val/mae)" in proc.stdout


@pytest.mark.parametrize("content", [b"\x00\xff not a journal\n", b'{"op_code": 99, "worker_id": "x"}\n',
                                     b"fit_config: ../digits.yaml\nstudy: {name: x}\n"])
def test_a_damaged_journal_is_one_line_naming_the_file(tmp_path, content):
    journal = tmp_path / "journal.log"
    study = optuna.create_study(study_name="s", storage=open_storage(str(journal)))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([lines[0], content, *lines[2:]]))  # a damaged record amid good ones
    # (a damaged *last* line reads as a write in progress: optuna skips it until it is complete)
    with pytest.raises(UserError, match=rf"--storage {journal}: not a readable Optuna journal .*restore it"):
        open_storage(str(journal))
    proc = subprocess.run([sys.executable, "-m", "autolit.search", "status", "--storage", str(journal),
                           "--study-name", "s"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"error: --storage {journal}: not a readable Optuna journal")


def test_a_journal_where_none_can_be_written_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(UserError, match=r"--storage .*a-file/j\.log: cannot open the journal file"):
        open_storage(str(blocker / "j.log"))
    with pytest.raises(UserError, match=r"--storage .* is a folder: give a journal file"):
        open_storage(str(tmp_path))


@pytest.mark.parametrize("value", ["-5", "0", "nan"])
def test_a_timeout_that_is_not_positive_is_refused_on_the_command_line(tmp_path, value):
    with pytest.raises(UserError, match=rf"^--timeout is {value if value != '0' else '0.0'}.*: give a number of seconds > 0"):
        main(["--config", str(write_configs(tmp_path)), "--timeout", value, "--devices", "cpu:1",
              "--runs-dir", str(tmp_path)], factory=search_stubs.stub_factory, data_info=search_stubs.stub_info)


def test_a_zero_timeout_is_refused_in_the_config_as_on_the_command_line(tmp_path):
    """One rule for the budget: ``study.timeout: 0`` was accepted by the config and refused by the CLI."""
    config = write_configs(tmp_path, study={"timeout": 0})
    with pytest.raises(UserError, match=r"study\.timeout is 0: give a number of seconds > 0"):
        main(["--config", str(config), "--devices", "cpu:1", "--runs-dir", str(tmp_path)],
             factory=search_stubs.stub_factory, data_info=search_stubs.stub_info)


def test_a_runs_dir_that_cannot_be_written_stops_before_any_trial(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(UserError, match=r"--runs-dir: cannot write trial folders in .*a-file/stub"):
        main(["--config", str(write_configs(tmp_path)), "--devices", "cpu:1", "--storage", str(tmp_path / "j.log"),
              "--runs-dir", str(blocker)], factory=search_stubs.stub_factory, data_info=search_stubs.stub_info)
    assert not (tmp_path / "j.log").exists()


def test_a_repeat_count_out_of_range_is_refused(tmp_path):
    space = {**SPACE, "model.layers": [{"repeat": {"low": 1, "high": 100000}, "layers": [{"ReLU": {}}]},
                                       {"Flatten": {}}]}
    from autolit.search.config import load_search_config

    with pytest.raises(UserError, match=r"space\.model\.layers\[0\]\.repeat\.high is 100000: at most 64"):
        load_search_config(write_configs(tmp_path, space=space))


def test_feasibility_sees_a_pretrained_backbones_input_size_and_channels(tiny_store):
    """autolit.fit feeds a pretrained Backbone what its weights expect (3x224x224 for torchvision's),
    not the grey 8 px store: the search's meta-device check must measure the same input."""
    from autolit.search.run.feasibility import check_feasible, data_info_for, layers_of

    config = {"model": {"task": "multiclass", "layers": [
        {"Backbone": {"name": "mobilenet_v3_small", "library": "torchvision", "weights": "imagenet"}},
        {"Linear": {"out_features": "n_labels"}}]},
        "data": {"store": str(tiny_store)}}
    info = data_info_for(config)
    assert info.input_shape == (3, 224, 224)
    assert check_feasible(layers_of(config), info, "multiclass", None)[0] is None
    config["data"].update(image_size=32, channels=3)  # given: the config's own values win, as in fit
    assert data_info_for(config).input_shape == (3, 32, 32)


@pytest.mark.parametrize("where", ["overrides", "space"])
def test_a_trainer_value_out_of_range_stops_the_search_before_any_trial(tmp_path, where):
    """Trials get the fit's checks of every value: the config error is the search's one line, not a failed trial each."""
    if where == "overrides":
        path = write_configs(tmp_path, extra={"overrides": {"trainer.accumulate_grad_batches": 0}})
    else:  # the space's low end is a value no trial could run
        path = write_configs(tmp_path, space={**SPACE, "trainer.accumulate_grad_batches": {"type": "int", "low": 0,
                                                                                           "high": 2}})
    with pytest.raises(UserError) as exc:
        main(["--config", str(path), "--devices", "cpu:1", "--storage", str(tmp_path / "j.log"),
              "--runs-dir", str(tmp_path / "runs")], factory=search_stubs.stub_factory, data_info=search_stubs.stub_info)
    message = str(exc.value)
    assert "trainer.accumulate_grad_batches: 0 is not valid for Trainer" in message and "\n" not in message
    assert message.startswith(f"search config {path}")
    assert not (tmp_path / "j.log").exists()  # no study, no trial


def test_a_value_refused_only_against_the_data_stops_the_search_at_its_first_trial(tmp_path, tiny_store):
    """limit_train_batches: 0.001 is a share under one batch of this store: the trial's own fit refuses it,
    and that stops the search (exit 2, one line) instead of failing every trial with Lightning's traceback."""
    from tests.search.search_configs import real_fit_config

    search = {"fit_config": "fit.yaml", "study": {"name": "tiny", "n_trials": 3, "pruner": {"type": "NopPruner"}},
              "overrides": {"trainer.limit_train_batches": 0.001},
              "space": {"optimizer.init_args.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}}
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(real_fit_config(tiny_store)))
    (tmp_path / "search.yaml").write_text(yaml.safe_dump(search))
    proc = subprocess.run([sys.executable, "-m", "autolit.search", "--config", "search.yaml", "--devices", "cpu:1",
                           "--runs-dir", "runs"], capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: trainer.limit_train_batches: 0.001 "), proc.stderr[-3000:]
    study = optuna.load_study(study_name="tiny", storage=open_storage(str(tmp_path / "runs" / "tiny" / "journal.log")))
    attrs = study.trials[0].user_attrs
    assert len(study.trials) == 1 and attrs.get("outcome") == "config_error"
    assert attrs["reason"].startswith("trainer.limit_train_batches")
