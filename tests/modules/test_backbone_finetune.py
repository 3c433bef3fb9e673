"""Fine-tuning: trainable blocks, frozen BatchNorm statistics, head-only epochs, param groups, checkpoints."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, TensorDataset

from autolit.modules.checkpoint import load_checkpoint, rebuild_model
from autolit.errors import UserError
from autolit.modules import AutoLitModule
from autolit.modules.backbone import Backbone
from tests.modules.conftest import TINY

pytestmark = [pytest.mark.filterwarnings("ignore:.*does not have many workers"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec"),
              pytest.mark.filterwarnings("ignore:.*have no `val_dataloader`")]


def layers(trainable: str = "all", weights: str = "none") -> list[dict]:
    return [{"Backbone": {"name": TINY, "weights": weights, "trainable": trainable}},
            {"Dropout": {"p": 0.1}}, {"Linear": {"out_features": "n_labels"}}]


def module(trainable: str = "all", weights: str = "none", **kwargs) -> AutoLitModule:
    return AutoLitModule(task="multiclass", layers=layers(trainable, weights), n_labels=2,
                         input_shape=[3, 32, 32], **kwargs)


def snapshot(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def changed(before: dict[str, torch.Tensor], net: torch.nn.Module) -> set[str]:
    return {k for k, v in net.state_dict().items() if not torch.equal(before[k], v)}


def top_block(backbone: Backbone) -> set[str]:
    from autolit.modules.archs import arch_blocks

    return arch_blocks(backbone.model, "timm")[-1]


def test_last_n_trains_only_the_top_blocks_and_freezes_the_others_batchnorm() -> None:
    backbone = Backbone(TINY, weights="none", trainable="last:1")
    grads = {n for n, p in backbone.model.named_parameters() if p.requires_grad}
    assert grads == top_block(backbone) and 0 < len(grads) < len(list(backbone.model.parameters()))
    backbone.train()
    live = {n for n, m in backbone.model.named_modules() if isinstance(m, _BatchNorm) and m.training}
    assert live and all(f"{n}.weight" in grads for n in live)
    before = snapshot(backbone.model)
    opt = torch.optim.SGD([p for p in backbone.parameters() if p.requires_grad], lr=0.1)
    backbone(torch.randn(4, 3, 32, 32)).sum().backward()
    opt.step()
    moved = {k.rsplit(".", 1)[0] for k in changed(before, backbone.model)}
    frozen_modules = {n.rsplit(".", 1)[0] for n in set(before) if n.rsplit(".", 1)[0] + ".weight" not in grads}
    assert moved and not (moved & frozen_modules)  # neither weights nor running stats of frozen blocks


@pytest.mark.parametrize(("trainable", "expected"), [("none", 0), ("all", None)])
def test_none_and_all(trainable: str, expected: int | None) -> None:
    backbone = Backbone(TINY, weights="none", trainable=trainable)
    total = len(list(backbone.model.parameters()))
    assert len(backbone.backbone_parameters()) == (total if expected is None else expected)
    backbone.train()
    norms = [m.training for m in backbone.model.modules() if isinstance(m, _BatchNorm)]
    assert all(norms) if trainable == "all" else not any(norms)


def test_head_only_freezes_everything_then_releases_the_trainable_blocks() -> None:
    backbone = Backbone(TINY, weights="none", trainable="last:2").train()
    backbone.set_head_only(True)
    assert not any(p.requires_grad for p in backbone.parameters())
    assert not any(m.training for m in backbone.model.modules() if isinstance(m, _BatchNorm))
    backbone.set_head_only(False)
    assert {n for n, p in backbone.model.named_parameters() if p.requires_grad} == \
        {n for n, p in backbone.model.named_parameters() if any(p is q for q in backbone.backbone_parameters())}
    assert any(m.training for m in backbone.model.modules() if isinstance(m, _BatchNorm))


def test_param_groups_put_the_backbone_at_a_lower_rate_and_leave_frozen_blocks_out() -> None:
    model = module("last:1", backbone_lr_mult=0.1)
    head, tuned = model.param_groups(0.01)
    assert tuned["lr"] == pytest.approx(0.001) and tuned["lr_mult"] == 0.1 and "lr" not in head
    backbone = model.net[0]
    assert {id(p) for p in tuned["params"]} == {id(p) for p in backbone.backbone_parameters()}
    assert {id(p) for p in head["params"]} == {id(p) for p in model.net[2].parameters()}
    opt = model.configure_optimizers()
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(1e-3), pytest.approx(1e-4)]


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 32, 32, generator=g), torch.arange(8) % 2
    return DataLoader(TensorDataset(x, y), batch_size=4)


class _PerEpoch(L.Callback):
    def __init__(self) -> None:
        self.moved: list[set[str]] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: AutoLitModule) -> None:
        self.before = snapshot(pl_module.net[0])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: AutoLitModule) -> None:
        self.moved.append(changed(self.before, pl_module.net[0]))


def test_freeze_epochs_train_the_head_first(tmp_path: Path) -> None:
    model = module("all", freeze_epochs=1)
    head_before = snapshot(model.net[2])
    spy = _PerEpoch()
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[spy],
                        default_root_dir=tmp_path)
    trainer.fit(model, _loader())
    assert spy.moved[0] == set()                 # epoch 0: backbone untouched (weights and BN stats)
    assert len(spy.moved[1]) > 0                 # epoch 1: unfrozen
    assert changed(head_before, model.net[2])    # the head trained


def test_fine_tuning_arguments_are_checked() -> None:
    with pytest.raises(UserError, match=r"model\.freeze_epochs: -1 is not valid .*must be an integer >= 0"):
        module(freeze_epochs=-1)
    with pytest.raises(UserError, match=r"model\.backbone_lr_mult: 'x' is not valid .*must be a finite number >= 0"):
        module(backbone_lr_mult="x")
    with pytest.raises(UserError, match=r"model\.freeze_epochs is set but model\.layers has no Backbone layer"):
        AutoLitModule(task="multiclass", layers=[{"Flatten": {}}, {"Linear": {"out_features": 2}}],
                      n_labels=2, input_shape=[1, 2, 2], freeze_epochs=1)


def test_checkpoint_rebuilds_without_the_weights_file(tmp_path: Path, tiny_safetensors: Path,
                                                      blocked_network: list[str]) -> None:
    """The checkpoint holds the weights: export/predict rebuild it with the file gone and no network."""
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(tiny_safetensors.read_bytes())
    model = module("last:1", weights=str(weights))
    assert model.hparams["load_weights"] is False
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, _loader())
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    weights.unlink()
    rebuilt = rebuild_model(load_checkpoint(tmp_path / "m.ckpt"))
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(rebuilt(x), model.eval()(x))
    assert blocked_network == []


def test_frozen_batchnorm_statistics_do_not_move_in_a_lightning_fit(tmp_path: Path) -> None:
    """Lightning neither calls .train() at fit start nor after validation (it restores each module's
    mode), so the frozen norms must already be in eval when the module is built."""
    model = module("last:1")
    backbone = model.net[0]
    top = top_block(backbone)
    before = snapshot(backbone.model)
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, _loader(), _loader())
    moved = changed(before, backbone.model)
    assert any("running_mean" in k for k in moved)  # the top block's norms do learn statistics
    assert all(k in top or f"{k.rsplit('.', 1)[0]}.weight" in top for k in moved), sorted(moved)
