"""A Backbone through ``autolit.fit``: preprocessing from its weights, LR groups from ``optimizer:``,
and the offline message as one line from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from autolit.training import build_cli, run_fit
from tests.errors import says
from tests.modules.conftest import TINY
from tests.training.conftest import base_config, write_config

pytestmark = [pytest.mark.filterwarnings("ignore:.*does not have many workers"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec"),
              pytest.mark.filterwarnings("ignore:LightningCLI's args parameter"),
              pytest.mark.filterwarnings("ignore:.*will be overridden by"),
              pytest.mark.filterwarnings("ignore:.*NumPy array is not writable")]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # test_efficientnet's config


def backbone_config(store: Path, weights: str, **model: object) -> dict:
    config = base_config(store)
    config["model"] = {"task": "multiclass", "layers": [
        {"Backbone": {"name": TINY, "weights": weights, "trainable": "last:1"}},
        {"Linear": {"out_features": "n_labels"}}], **model}
    config["trainer"].update(max_epochs=1, enable_progress_bar=False, enable_model_summary=False)
    return config


def test_preprocessing_follows_the_weights(tiny_store: Path, tiny_safetensors: Path, tmp_path: Path) -> None:
    """The 8x8 grey store is fed at 160 px RGB with ImageNet mean/std, recorded everywhere."""
    result = run_fit(backbone_config(tiny_store, str(tiny_safetensors), freeze_epochs=1),
                     run_dir=tmp_path / "run", progress=False)
    assert "test/acc" in result.metrics
    resolved = yaml.safe_load((result.run_dir / "resolved.yaml").read_text())
    data, record = resolved["data"], resolved["resolved"]
    assert (data["image_size"], data["channels"]) == (160, 3)
    assert data["mean"] == pytest.approx(IMAGENET_MEAN) and data["std"] == pytest.approx(IMAGENET_STD)
    assert record["input_shape"] == [3, 160, 160]
    assert record["preprocessing"]["mean"] == pytest.approx(IMAGENET_MEAN)
    ckpt = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
    pre = ckpt["hyper_parameters"]["preprocessing"]
    assert (pre["image_size"], pre["channels"]) == (160, 3) and pre["std"] == pytest.approx(IMAGENET_STD)
    assert ckpt["hyper_parameters"]["load_weights"] is False and ckpt["hyper_parameters"]["freeze_epochs"] == 1


def test_explicit_data_values_win_and_none_weights_use_the_store(tiny_store: Path, tiny_safetensors: Path) -> None:
    config = backbone_config(tiny_store, str(tiny_safetensors))
    config["data"].update(image_size=32, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    cli = build_cli(config, progress=False)
    assert cli.datamodule.input_shape == [3, 32, 32]
    assert cli.datamodule.preprocessing["std"] == [0.25, 0.25, 0.25]
    scratch = build_cli(backbone_config(tiny_store, "none"), progress=False)
    assert scratch.datamodule.input_shape == [1, 8, 8]  # weights: none: the store's own size and stats


@pytest.mark.parametrize("scheduler", [None, "CosineAnnealingLR", "OneCycleLR"])
def test_optimizer_config_gets_a_backbone_group(tiny_store: Path, tiny_safetensors: Path, scheduler: str | None) -> None:
    config = backbone_config(tiny_store, str(tiny_safetensors), backbone_lr_mult=0.1)
    config["optimizer"] = {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "weight_decay": 0.02}}
    if scheduler == "CosineAnnealingLR":
        config["lr_scheduler"] = {"class_path": "torch.optim.lr_scheduler.CosineAnnealingLR",
                                  "init_args": {"T_max": 4}}
    elif scheduler == "OneCycleLR":
        config["lr_scheduler"] = {"class_path": "torch.optim.lr_scheduler.OneCycleLR",
                                  "init_args": {"max_lr": 0.01, "total_steps": 10}}
    cli = build_cli(config, progress=False)
    out = cli.model.configure_optimizers()
    if isinstance(out, dict):  # a per-step schedule (OneCycleLR): Lightning's dict form, interval step
        assert out["lr_scheduler"]["interval"] == "step"
        optimizer, sched = out["optimizer"], out["lr_scheduler"]["scheduler"]
    elif isinstance(out, torch.optim.Optimizer):
        optimizer, sched = out, None
    else:
        optimizer, sched = out[0][0], out[1][0]
    assert isinstance(optimizer, torch.optim.AdamW)
    head, tuned = optimizer.param_groups
    assert head["weight_decay"] == tuned["weight_decay"] == 0.02
    assert {id(p) for p in tuned["params"]} == {id(p) for p in cli.model.net[0].backbone_parameters()}
    if scheduler is None:
        assert (head["lr"], tuned["lr"]) == (pytest.approx(0.01), pytest.approx(0.001))
    else:
        assert sched.optimizer is optimizer
        key = "max_lr" if scheduler == "OneCycleLR" else "initial_lr"
        assert (head[key], tuned[key]) == (pytest.approx(0.01), pytest.approx(0.001))


def test_an_unsized_one_cycle_keeps_the_backbone_multiplier(tiny_store: Path, tiny_safetensors: Path,
                                                            tmp_path: Path) -> None:
    """OneCycleLR without total_steps is built at fit time over the param groups: max_lr x lr_mult."""
    config = backbone_config(tiny_store, str(tiny_safetensors), backbone_lr_mult=0.1)
    config["data"].update(image_size=32)
    config["lr_scheduler"] = {"class_path": "torch.optim.lr_scheduler.OneCycleLR", "init_args": {"max_lr": 0.02}}
    config["trainer"].update(max_epochs=1, limit_train_batches=2, limit_val_batches=1)
    cli = build_cli(config, run_dir=tmp_path / "run", progress=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    (scheduler_config,) = cli.trainer.lr_scheduler_configs
    assert scheduler_config.interval == "step"
    head, tuned = scheduler_config.scheduler.optimizer.param_groups
    assert (head["max_lr"], tuned["max_lr"]) == (pytest.approx(0.02), pytest.approx(0.002))


def test_offline_imagenet_is_one_line_from_the_cli(tiny_store: Path, tmp_path: Path) -> None:
    write_config(tmp_path / "offline.yaml", backbone_config(tiny_store, "imagenet"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "TORCH_HOME": str(tmp_path / "torch"), "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-m", "autolit.fit", "--config", "offline.yaml"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: model.layers[0].Backbone.weights: imagenet weights for test_efficientnet "
                                "are not in the cache"), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert f"{tmp_path / 'hf'}" in lines[-1] and "model.safetensors" in lines[-1]
    assert "write weights: weights/test_efficientnet.safetensors" in lines[-1]


def test_a_configs_checkpoint_callback_is_kept(tiny_store: Path, tmp_path: Path) -> None:
    """configs/hymenoptera_pretrained.yaml picks its checkpoint by val/loss (16 val photos tie on acc)."""
    config = backbone_config(tiny_store, "none")
    config["trainer"]["max_epochs"] = 2
    config["trainer"]["callbacks"] = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                       "init_args": {"monitor": "val/loss", "mode": "min", "filename": "best"}}]
    result = run_fit(config, run_dir=tmp_path / "run", progress=False)
    assert result.best_checkpoint.name == "best.ckpt"
    ckpt = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
    monitors = [state.get("monitor") for name, state in ckpt["callbacks"].items() if name.startswith("ModelCheckpoint")]
    assert [m for m in monitors if m is not None] == ["val/loss"]  # the config's; autolit adds only last.ckpt
    assert (result.best_checkpoint.parent / "last.ckpt").is_file()


def test_grey_data_with_pretrained_weights_trains_on_one_channel(tiny_store: Path, tiny_safetensors: Path,
                                                                 tmp_path: Path) -> None:
    """data.channels: 1 gives the Backbone in_chans 1 (timm sums the stem over RGB) and 1-channel stats."""
    from safetensors.torch import load_file

    config = backbone_config(tiny_store, str(tiny_safetensors))
    config["data"].update(channels=1, image_size=32)
    config["trainer"].update(limit_train_batches=2, limit_val_batches=1, limit_test_batches=1)
    result = run_fit(config, run_dir=tmp_path / "run", progress=False)  # used to fail: (B, 3, H, W) batches
    resolved = yaml.safe_load((result.run_dir / "resolved.yaml").read_text())
    assert resolved["resolved"]["input_shape"] == [1, 32, 32]
    assert resolved["data"]["mean"] == pytest.approx([sum(IMAGENET_MEAN) / 3])
    assert resolved["data"]["std"] == pytest.approx([sum(IMAGENET_STD) / 3])
    ckpt = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
    assert ckpt["hyper_parameters"]["preprocessing"]["mean"] == pytest.approx([sum(IMAGENET_MEAN) / 3])
    cli = build_cli(config, progress=False)  # the pretrained stem as built: before any training step
    stem = cli.model.net[0].model.conv_stem.weight
    assert stem.shape[1] == 1
    assert torch.allclose(stem, load_file(str(tiny_safetensors))["conv_stem.weight"].sum(dim=1, keepdim=True))


def test_backbone_arguments_not_a_map_are_a_spec_error(tiny_store: Path) -> None:
    """``- Backbone: resnet18`` is read for the preprocessing before the spec walker: same one line."""
    from autolit.modules import SpecError

    config = backbone_config(tiny_store, "imagenet")
    config["model"]["layers"][0] = {"Backbone": TINY}
    with says(SpecError, 'model.layers[0].Backbone',
              "arguments must be a map, got 'test_efficientnet'",
              'fix: write Backbone: {arg: value}'):
        build_cli(config, progress=False)
