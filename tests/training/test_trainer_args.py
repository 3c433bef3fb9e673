"""Trainer, data, model and top-level values out of range stop the fit before anything is built: one
``error:`` line naming the key, exit 2 (issue 17: ZeroDivisionError tracebacks mid-fit, values that
trained as if valid, a 400-character union dump)."""

from __future__ import annotations

import copy
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import torch
import yaml

from autolit.errors import UserError
from autolit.training.trainer_checks import check_trainer, rules
from tests.training.conftest import base_config, error_line, run_inprocess, write_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("flag, key", [
    ("--trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches"),  # was ZeroDivisionError mid-fit
    ("--trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch"),  # was ZeroDivisionError mid-fit
    ("--trainer.gradient_clip_val=-1", "trainer.gradient_clip_val"),  # trained as if valid
    ("--trainer.precision=17", "trainer.precision"),  # was jsonargparse's union dump
])
def test_the_issues_trainer_values_through_python_m_fit(flag, key, tiny_store, tmp_path):
    config = write_config(tmp_path / "c.yaml", base_config(tiny_store))
    proc = subprocess.run([sys.executable, "-m", "autolit.fit", "--config", str(config), flag], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert error_line(proc.stderr).startswith(f"error: {key}: "), proc.stderr
    assert not (tmp_path / "runs").exists()  # refused before the run folder, the store or the model


def test_the_golden_message(tiny_store, tmp_path, monkeypatch, capsys):
    """# golden: the training room's one test of a whole message, word for word (tests/errors.py)."""
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "c.yaml", base_config(tiny_store))
    code, err = run_inprocess(monkeypatch, capsys, "--config", config, "--trainer.accumulate_grad_batches=0")
    assert code == 2 and error_line(err) == ("error: trainer.accumulate_grad_batches: 0 is not valid for Trainer "
                                             "(must be an integer >= 1); fix: e.g. accumulate_grad_batches: 1")


def test_precision_lists_lightnings_own_names(tiny_store, tmp_path, monkeypatch, capsys):
    from lightning.fabric.connector import _PRECISION_INPUT_STR, _PRECISION_INPUT_STR_ALIAS

    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "c.yaml", base_config(tiny_store))
    code, err = run_inprocess(monkeypatch, capsys, "--config", config, "--trainer.precision=16mixed")
    line = error_line(err)
    assert code == 2 and line.startswith("error: trainer.precision: '16mixed' ") and len(line) < 400
    assert all(name in line for name in typing.get_args(_PRECISION_INPUT_STR) + typing.get_args(_PRECISION_INPUT_STR_ALIAS))
    assert line.endswith("fix: e.g. precision: 16-mixed")  # the closest name


# (config key, value) → the key the one line starts with; values given as YAML text
CASES = {
    "max_epochs 0 trains nothing": ("trainer.max_epochs", "0"),
    "max_epochs below -1": ("trainer.max_epochs", "-2"),
    "max_steps 0": ("trainer.max_steps", "0"),
    "negative min_epochs": ("trainer.min_epochs", "-1"),
    "min_epochs past max_epochs": ("trainer.min_epochs", "5"),
    "limit_train_batches 0": ("trainer.limit_train_batches", "0"),
    "limit_train_batches 1.5": ("trainer.limit_train_batches", "1.5"),
    "negative limit_val_batches": ("trainer.limit_val_batches", "-1"),
    "validation every 5 epochs of 2": ("trainer.check_val_every_n_epoch", "5"),
    "val_check_interval 0.0": ("trainer.val_check_interval", "0.0"),
    "val_check_interval 0": ("trainer.val_check_interval", "0"),
    "num_sanity_val_steps -5": ("trainer.num_sanity_val_steps", "-5"),
    "log_every_n_steps -3": ("trainer.log_every_n_steps", "-3"),
    "unknown accelerator": ("trainer.accelerator", "cpux"),
    "unknown strategy": ("trainer.strategy", "dpp"),
    "devices 0": ("trainer.devices", "0"),
    "num_nodes 0": ("trainer.num_nodes", "0"),
    "max_time not a duration": ("trainer.max_time", "abc"),
    "fast_dev_run": ("trainer.fast_dev_run", "true"),
    "barebones": ("trainer.barebones", "true"),
    "unknown profiler": ("trainer.profiler", "simpel"),
    "negative reload interval": ("trainer.reload_dataloaders_every_n_epochs", "-1"),
    "negative overfit_batches": ("trainer.overfit_batches", "-1"),
    "clip algorithm without a value": ("trainer.gradient_clip_algorithm", "value"),
    "unknown clip algorithm": ("trainer.gradient_clip_algorithm", "foo"),
    "deterministic not a choice": ("trainer.deterministic", "maybe"),
    "detect_anomaly not a bool": ("trainer.detect_anomaly", "3"),
    "accumulate_grad_batches 1.5": ("trainer.accumulate_grad_batches", "1.5"),
    "a share of no train batch": ("trainer.limit_train_batches", "0.001"),  # needs the data's size
    "val_check_interval past the epoch": ("trainer.val_check_interval", "100"),
    "seed below 0": ("seed_everything", "-1"),
    "seed above uint32": ("seed_everything", "4294967296"),
    "empty ckpt_path": ("ckpt_path", "''"),
    "ckpt_path best": ("ckpt_path", "best"),
    "trainer not a mapping": ("trainer", "5"),
    "model not a mapping": ("model", "[1]"),
    "negative device_limit_mb": ("data.device_limit_mb", "-5"),
    "batch_size true": ("data.batch_size", "true"),
    "batch_size not a number": ("data.batch_size", "big"),
    "image_size 0": ("data.image_size", "0"),
    "label_smoothing 1.5": ("model.label_smoothing", "1.5"),
    "label_smoothing not a number": ("model.label_smoothing", "abc"),
    "huber_delta nan": ("model.huber_delta", ".nan"),
    "class weight inf": ("model.class_weights", "[1, .inf, 1]"),
    "backbone_lr_mult inf": ("model.backbone_lr_mult", ".inf"),
}
EXTRA = {"min_epochs past max_epochs": {"max_epochs": 2}, "unknown clip algorithm": {"gradient_clip_val": 1.0},
         "validation every 5 epochs of 2": {"max_epochs": 2}}


def _set(config: dict, key: str, value) -> None:
    section, _, arg = key.rpartition(".")
    (config.setdefault(section, {}) if section else config)[arg or key] = value


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_value_out_of_range_is_one_line_naming_its_key(case, tiny_store, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    key, text = CASES[case]
    config = copy.deepcopy(base_config(tiny_store))
    config["trainer"].update(EXTRA.get(case, {}))
    _set(config, key, yaml.safe_load(text))
    code, err = run_inprocess(monkeypatch, capsys, "--config", write_config(tmp_path / "bad.yaml", config))
    assert code == 2, err
    assert error_line(err).startswith(f"error: {key}: "), err
    assert not list(tmp_path.rglob("*.ckpt"))


def test_model_values_are_refused_before_the_store_is_imported(tmp_path, monkeypatch, capsys):
    """A scrape source would be fetched (and paid for) before the model's own check ran."""
    monkeypatch.chdir(tmp_path)
    config = {"model": {"preset": "mlp", "label_smoothing": 1.5},
              "data": {"store": str(tmp_path / "digits"), "source": "digits"}}
    code, err = run_inprocess(monkeypatch, capsys, "--config", write_config(tmp_path / "c.yaml", config))
    assert code == 2 and error_line(err).startswith("error: model.label_smoothing"), err
    assert not (tmp_path / "digits").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_an_accelerator_this_machine_lacks(tiny_store, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "c.yaml", base_config(tiny_store))
    code, err = run_inprocess(monkeypatch, capsys, "--config", config, "--trainer.accelerator=cuda")
    assert code == 2 and error_line(err).startswith("error: trainer.accelerator: 'cuda' is not available"), err


@pytest.mark.parametrize("args", [
    {"max_epochs": -1, "max_steps": 100}, {"max_epochs": None, "max_steps": -1}, {"min_epochs": 2, "max_epochs": -1},
    {"limit_val_batches": 0, "limit_test_batches": 0.0, "limit_train_batches": 2.0}, {"limit_train_batches": 1.0},
    {"val_check_interval": "00:00:10:00"}, {"val_check_interval": {"minutes": 10}}, {"val_check_interval": 0.5},
    {"check_val_every_n_epoch": None, "val_check_interval": 50}, {"max_time": {"hours": 1}},
    {"devices": "auto"}, {"devices": -1}, {"devices": [0, 1]}, {"devices": "0,1"}, {"devices": "2"},
    {"precision": 16}, {"precision": "bf16"}, {"precision": "bf16-mixed"}, {"strategy": "DDP"},
    {"deterministic": "warn"}, {"gradient_clip_val": 0, "gradient_clip_algorithm": "Value"},
    {"num_sanity_val_steps": -1}, {"log_every_n_steps": 0}, {"fast_dev_run": False}, {"profiler": "simple"},
    {"strategy": {"class_path": "lightning.pytorch.strategies.DDPStrategy"}},
])
def test_what_lightning_means_by_a_value_is_still_accepted(args):
    check_trainer(args, machine=False)


def test_every_numeric_and_choice_argument_of_the_trainer_has_a_rule():
    """A new Lightning argument with a range or names must get a rule (bools are jsonargparse's, objects Lightning's)."""
    from lightning import Trainer

    def kinds(annotation) -> set:
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Literal:
            return {type(v) for v in args}
        return set().union(*map(kinds, args)) if args else {annotation}

    unchecked = {"default_root_dir", "model_registry"}  # paths and names: nothing to range-check
    for name, hint in typing.get_type_hints(Trainer.__init__).items():
        if name != "return" and kinds(hint) & {int, float, str} and name not in unchecked:
            assert name in rules(), f"trainer.{name} ({hint}) has no rule in autolit.training.trainer_checks"
    assert set(rules()) <= set(inspect.signature(Trainer.__init__).parameters)


@pytest.mark.parametrize("config", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_the_shipped_configs_pass_every_check(config):
    from autolit.training.config_checks import check_config

    check_config(yaml.safe_load((REPO / "configs" / config).read_text()), machine=False)


def test_a_checkpoint_folder_is_named_as_a_folder(tiny_store, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "ckpts" / "last.ckpt").write_bytes(b"x")
    config = {**base_config(tiny_store), "ckpt_path": str(tmp_path / "ckpts")}
    code, err = run_inprocess(monkeypatch, capsys, "--config", write_config(tmp_path / "c.yaml", config))
    assert code == 2 and "is a folder" in error_line(err) and "last.ckpt" in err, err


def test_rules_refuse_with_the_key_value_range_and_fix():
    with pytest.raises(UserError) as exc:
        check_trainer({"strategy": "dpp"})
    text = str(exc.value)
    assert text.startswith("trainer.strategy: 'dpp' is not valid for Trainer (must be one of auto, ddp")
    assert text.endswith("fix: e.g. strategy: ddp") and "\n" not in text
