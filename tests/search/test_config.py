"""Search config loading: defaults, unknown keys refused with the fix, dotted overrides."""

from __future__ import annotations

import pytest
import yaml

from autolit.errors import UserError
from autolit.search.config import load_search_config, set_dotted, trial_fit_config
from tests.errors import says
from tests.search.search_configs import write_configs


def test_loads_with_defaults(search_yaml):
    cfg = load_search_config(search_yaml)
    assert cfg.study.name == "stub" and cfg.study.direction == "maximize"
    assert cfg.study.sampler == {"type": "TPESampler"} and cfg.study.pruner["type"] == "HyperbandPruner"
    assert cfg.fit_config["trainer"]["max_epochs"] == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"extra": {"spaec": {}}}, r"unknown key\(s\) \['spaec'\]: valid keys are fit_config, study, overrides, space"),
    ({"study": {"n_trails": 3}}, r"unknown study key\(s\) \['n_trails'\]"),
    ({"study": {"direction": "up"}}, r"study\.direction is 'up': use maximize or minimize"),
    ({"study": {"n_trials": 0}}, r"study\.n_trials is 0: give a number >= 1"),
    ({"study": {"sampler": {"type": "TPE"}}}, r"study\.sampler\.type is 'TPE': valid names are TPESampler"),
    ({"study": {"pruner": {"type": "MedianPruner", "n_warmup": 1}}}, r"MedianPruner does not take \['n_warmup'\]"),
    ({"space": {"optimiser.init_args.lr": {"type": "float", "low": 0.1, "high": 1}}},
     r"key 'optimiser\.init_args\.lr' starts with 'optimiser', not a fit config section"),
])
def test_config_errors_are_fatal_and_named(tmp_path, kwargs, match):
    path = write_configs(tmp_path, **kwargs)
    with pytest.raises(UserError, match=match):
        load_search_config(path)


def test_missing_fit_config(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"fit_config": "nope.yaml"}))
    with pytest.raises(UserError, match=r"nope\.yaml does not exist"):
        load_search_config(path)


def test_set_dotted_skips_init_args_like_lightning_cli():
    config = {"data": {"class_path": "X", "init_args": {"batch_size": 8}}, "optimizer": {"init_args": {"lr": 1}}}
    set_dotted(config, "data.batch_size", 64)
    set_dotted(config, "optimizer.init_args.lr", 0.5)
    set_dotted(config, "trainer.max_epochs", 2)
    assert config["data"]["init_args"]["batch_size"] == 64
    assert config["optimizer"]["init_args"]["lr"] == 0.5 and config["trainer"] == {"max_epochs": 2}


def test_trial_config_applies_overrides_then_samples_and_drops_preset(tmp_path):
    fit = {"model": {"preset": "mlp"}, "trainer": {"max_epochs": 9}}
    cfg = load_search_config(write_configs(tmp_path, fit=fit, extra={"overrides": {"trainer.max_epochs": 2}}))
    config = trial_fit_config(cfg, {"data.batch_size": 16}, [{"Flatten": {}}])
    assert config["trainer"]["max_epochs"] == 2 and config["data"]["batch_size"] == 16
    assert config["model"] == {"layers": [{"Flatten": {}}]}
    assert cfg.fit_config["model"] == {"preset": "mlp"}  # base config untouched


REGRESSION_FIT = {"model": {"task": "regression", "layers": [{"Flatten": {}}, {"Linear": {"out_features": 1}}]},
                  "data": {"store": "s"}}


@pytest.mark.parametrize("fit, study, overrides, metric, direction", [
    (None, {}, None, "val/acc", "maximize"),                                     # multiclass: its monitor
    (REGRESSION_FIT, {}, None, "val/mae", "minimize"),                           # regression: val/mae, minimize
    (None, {}, {"model.task": "regression"}, "val/mae", "minimize"),             # the task trials get
    (REGRESSION_FIT, {"metric": "val/r2"}, None, "val/r2", "maximize"),
    (None, {"metric": "val/loss"}, None, "val/loss", "minimize"),
    (REGRESSION_FIT, {"metric": "val/rmse", "direction": "maximize"}, None, "val/rmse", "maximize"),  # as told
])
def test_metric_and_direction_default_from_the_task(tmp_path, fit, study, overrides, metric, direction):
    study = {"metric": None, **study}  # write_configs sets val/acc: null means "not given"
    path = write_configs(tmp_path, fit=fit, study=study, extra={"overrides": overrides} if overrides else None)
    cfg = load_search_config(path)
    assert (cfg.study.metric, cfg.study.direction) == (metric, direction)


def test_a_metric_the_task_does_not_log_is_refused_at_load_with_the_valid_names(tmp_path):
    path = write_configs(tmp_path, fit=REGRESSION_FIT, study={"metric": "val/acc"})
    with says(UserError, 'study.metric',
              'which a regression fit does not log',
              'use one of val/loss, val/mae, val/rmse, val/r2'):
        load_search_config(path)
    path = write_configs(tmp_path, study={"metric": "val/accuracy"})
    with pytest.raises(UserError, match=r"'val/accuracy' \(did you mean 'val/acc'\?\)"):
        load_search_config(path)


@pytest.mark.parametrize("study, match", [
    ({"seed": -1}, r"study\.seed is -1: give a number between 0 and 2147483647"),
    ({"sampler": {"type": "TPESampler", "seed": 2**40}}, r"study\.sampler\.seed is 1099511627776"),
    ({"name": "a/b"}, r"study\.name is 'a/b': give a name without '/'"),
])
def test_numbers_and_names_out_of_range_are_refused(tmp_path, study, match):
    with pytest.raises(UserError, match=match):
        load_search_config(write_configs(tmp_path, study=study))


@pytest.mark.parametrize("which", ["search.yaml", "fit.yaml"])
def test_a_non_utf8_config_is_one_line_naming_the_file(search_yaml, which):
    path = search_yaml.parent / which
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")  # Latin-1, as some editors save
    with pytest.raises(UserError, match=rf"{which} is not UTF-8 text \(byte \d+: b'\\xe9'\): save it as UTF-8"):
        load_search_config(search_yaml)


def test_an_unreadable_config_is_one_line_naming_the_file(search_yaml, monkeypatch):
    from pathlib import Path

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(UserError, match=r"search config .*search\.yaml cannot be read \(Permission denied\)"):
        load_search_config(search_yaml)
