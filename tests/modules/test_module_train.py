"""Tiny real training runs per task on random tensors; NaN stop; checkpoint round-trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities.model_summary import ModelSummary
from torch.utils.data import DataLoader, TensorDataset

from autolit.modules import AutoLitModule, NonFiniteLossError
from tests.errors import says

SHAPE = [1, 8, 8]
SPEC = [{"Conv2d": {"out_channels": 4, "kernel_size": 3}}, {"ReLU": {}}, {"Flatten": {}},
        {"Linear": {"out_features": "n_labels"}}]
N_LABELS = {"multiclass": 3, "binary": 2, "regression": None}
METRICS = {"multiclass": {"acc", "f1"}, "binary": {"acc", "f1", "auroc"},
           "regression": {"mae", "rmse", "r2"}}


pytestmark = [pytest.mark.filterwarnings("ignore:.*does not have many workers"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec"),
              pytest.mark.filterwarnings("ignore:.*have no `val_dataloader`")]


def loader(task: str, n: int = 16, *, long_targets: bool = False) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, *SHAPE, generator=g)                     # (n, C, H, W)
    if task == "multiclass":
        y = torch.arange(n) % 3                                  # (n,) long
    elif task == "binary":
        y = torch.arange(n) % 2
        y = y if long_targets else y.float()                     # (n,) 0/1
    else:
        y = torch.randn(n, generator=g)                          # (n,) float
    return DataLoader(TensorDataset(x, y), batch_size=8)


def trainer(**kwargs: Any) -> L.Trainer:
    args = dict(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False) | kwargs
    return L.Trainer(**args)


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
def test_one_epoch_logs_the_task_metrics(task: str) -> None:
    model = AutoLitModule(task=task, layers=SPEC, n_labels=N_LABELS[task], input_shape=SHAPE)
    t = trainer()
    t.fit(model, loader(task), loader(task))
    logged = set(t.callback_metrics)
    assert {"train/loss", "val/loss"} | {f"val/{m}" for m in METRICS[task]} <= logged
    results = t.test(model, loader(task), verbose=False)[0]
    assert set(results) == {"test/loss"} | {f"test/{m}" for m in METRICS[task]}
    for name, value in _by_hand(model, task).items():  # what the module logged is the metric's value
        assert results[f"test/{name}"] == pytest.approx(value, abs=1e-5), name
    preds = torch.cat(t.predict(model, loader(task)))
    if task == "multiclass":
        torch.testing.assert_close(preds.sum(-1), torch.ones(16))  # softmax rows
    else:
        assert preds.shape == (16, 1)  # the task outputs keep the head: what exports return
        assert task == "regression" or bool(((preds >= 0) & (preds <= 1)).all())


def _by_hand(model: AutoLitModule, task: str) -> dict[str, float]:
    """The test loader's loss and headline metric computed here, from the model's raw outputs."""
    x, y = (torch.cat(t) for t in zip(*loader(task)))
    with torch.no_grad():
        out = model.eval()(x)                                    # (16, K) logits or (16, 1)
    if task == "multiclass":
        return {"loss": float(F.cross_entropy(out, y)), "acc": float((out.argmax(-1) == y).float().mean())}
    if task == "binary":
        return {"loss": float(F.binary_cross_entropy_with_logits(out[:, 0], y)),
                "acc": float(((out[:, 0] > 0).float() == y).float().mean())}
    return {"loss": float(F.mse_loss(out[:, 0], y)), "mae": float((out[:, 0] - y).abs().mean())}


@pytest.mark.parametrize(("task", "size"), [("multiclass", 3), ("binary", 2), ("regression", None)])
def test_val_confusion(task: str, size: int | None) -> None:
    model = AutoLitModule(task=task, layers=SPEC, n_labels=N_LABELS[task], input_shape=SHAPE)
    assert model.val_confusion is None
    trainer(fast_dev_run=True).fit(model, loader(task), loader(task))
    matrix = model.val_confusion
    if size is None:
        assert matrix is None
    else:
        assert matrix.shape == (size, size) and int(matrix.sum()) == 8  # one val batch


def test_confusion_is_ready_for_callbacks_at_epoch_end() -> None:
    seen: list[int] = []

    class Grab(L.Callback):
        def on_validation_epoch_end(self, trainer: L.Trainer, module: AutoLitModule) -> None:
            seen.append(int(module.val_confusion.sum()))  # runs before the module's own hook

    model = AutoLitModule(layers=SPEC, n_labels=3, input_shape=SHAPE)
    trainer(max_epochs=2, num_sanity_val_steps=0, callbacks=[Grab()]).fit(
        model, loader("multiclass"), loader("multiclass", n=12))
    assert seen == [12, 12]  # this epoch's samples, not accumulated across epochs


def _batch_loss(task: str, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss the module computes, its logits, the targets) on one fixed batch."""
    model = AutoLitModule(task=task, layers=SPEC, n_labels=N_LABELS[task], input_shape=SHAPE, **kwargs)
    x, y = next(iter(loader(task)))
    logits, _, loss = model._loss((x, y))
    return loss, logits.detach(), y


def test_label_smoothing_and_class_weights_reach_the_multiclass_loss() -> None:
    weights = [1.0, 2.0, 0.5]
    loss, logits, y = _batch_loss("multiclass", label_smoothing=0.2, class_weights=weights)
    expected = F.cross_entropy(logits, y, weight=torch.tensor(weights), label_smoothing=0.2)
    torch.testing.assert_close(loss.detach(), expected)
    assert not torch.isclose(expected, F.cross_entropy(logits, y))  # each knob changes the value


def test_label_smoothing_and_class_weights_reach_the_binary_loss() -> None:
    loss, logits, y = _batch_loss("binary", label_smoothing=0.1, class_weights=[1.0, 3.0])
    target = y.float() * 0.9 + 0.05                                # smoothed towards 0.5
    per_sample = F.binary_cross_entropy_with_logits(logits[:, 0], target, reduction="none")
    w = torch.tensor([1.0, 3.0])[y.long()]
    torch.testing.assert_close(loss.detach(), (per_sample * w).sum() / w.sum())
    assert not torch.isclose(loss.detach(), F.binary_cross_entropy_with_logits(logits[:, 0], y.float()))


def test_huber_delta_reaches_the_regression_loss() -> None:
    loss, pred, y = _batch_loss("regression", loss="huber", huber_delta=0.5)
    torch.testing.assert_close(loss.detach(), F.huber_loss(pred[:, 0], y, delta=0.5))
    assert not torch.isclose(loss.detach(), F.mse_loss(pred[:, 0], y))


def test_binary_accepts_long_targets_and_weights() -> None:
    model = AutoLitModule(task="binary", layers=SPEC, n_labels=2, input_shape=SHAPE,
                          label_smoothing=0.1, class_weights=[1.0, 3.0])
    t = trainer(fast_dev_run=True)
    t.fit(model, loader("binary", long_targets=True), loader("binary", long_targets=True))
    x, y = next(iter(loader("binary", long_targets=True)))       # fast_dev_run validates one batch
    with torch.no_grad():
        logits = model.eval()(x)[:, 0]
    w = torch.tensor([1.0, 3.0])[y]
    expected = (F.binary_cross_entropy_with_logits(logits, y.float() * 0.9 + 0.05, reduction="none") * w).sum() / w.sum()
    assert float(t.callback_metrics["val/loss"]) == pytest.approx(float(expected), abs=1e-5)


def test_nan_input_stops_at_the_first_bad_step() -> None:
    x = torch.randn(16, *SHAPE)
    x[8:] = float("nan")  # second batch
    bad = DataLoader(TensorDataset(x, torch.arange(16) % 3), batch_size=8)
    model = AutoLitModule(layers=SPEC, n_labels=3, input_shape=SHAPE)
    with says(NonFiniteLossError, 'train/loss became nan at epoch 0 step 1',
              'lower optimizer.init_args.lr (now 0.001)'):
        trainer(max_epochs=3).fit(model, bad)


def test_huge_learning_rate_stops_cleanly() -> None:
    class Explode(AutoLitModule):
        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=1e30)

    model = Explode(task="regression", layers=SPEC, input_shape=SHAPE)
    with pytest.raises(NonFiniteLossError, match=r"train/loss became (nan|inf) at epoch \d+ step \d+.*1e\+30"):
        trainer(max_epochs=20).fit(model, loader("regression"))


def test_summary_shows_each_layers_output_shape() -> None:
    model = AutoLitModule(preset="keras_mnist", n_labels=10, input_shape=[1, 28, 28])
    summary = ModelSummary(model, max_depth=2)
    assert summary.out_sizes[summary.layer_names.index("net.0")] == [1, 32, 26, 26]
    assert summary.out_sizes[summary.layer_names.index("net")] == [1, 10]
    assert summary.total_parameters == 93_322


@pytest.mark.parametrize("task", ["multiclass", "binary"])
def test_checkpoint_round_trip(task: str, tmp_path: Path) -> None:
    model = AutoLitModule(task=task, preset="small_resnet", n_labels=N_LABELS[task], input_shape=SHAPE,
                          label_names=[f"c{i}" for i in range(N_LABELS[task])],
                          preprocessing={"size": 8, "channels": 1, "mean": [0.5], "std": [0.25]})
    t = trainer(fast_dev_run=True)
    t.fit(model, loader(task), loader(task))
    path = tmp_path / "model.ckpt"
    t.save_checkpoint(path)

    ckpt = torch.load(path, weights_only=True, map_location="cpu")
    rebuilt = AutoLitModule(**ckpt["hyper_parameters"])
    rebuilt.load_state_dict(ckpt["state_dict"])
    assert rebuilt.hparams.preset is None and rebuilt.hparams.label_names[0] == "c0"
    x = torch.randn(5, *SHAPE)
    model.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt(x), model(x))
    lightning_loaded = AutoLitModule.load_from_checkpoint(path, map_location="cpu").eval()
    torch.testing.assert_close(lightning_loaded(x), model(x))


def test_deferred_check_on_accelerators_syncs_once_per_window() -> None:
    # The accelerator path, exercised on CPU: flags accumulate, the host looks every N steps.
    model = AutoLitModule(layers=SPEC, n_labels=3, input_shape=SHAPE)
    model.check_every_step, model.nonfinite_check_every = False, 3
    nan, one = torch.tensor(float("nan")), torch.tensor(1.0)
    model._guard_finite(one, 0)
    model._guard_finite(nan, 1)  # not seen yet: no sync on this step
    with pytest.raises(NonFiniteLossError, match=r"became nan or inf at epoch 0 a step between step 0 and step 2"):
        model._guard_finite(one, 2)
    model._guard_finite(torch.tensor(float("inf")), 3)
    with pytest.raises(NonFiniteLossError, match=r"between step 3 and the epoch end"):
        model.on_train_epoch_end()
    model._guard_finite(one, 4)
    model.on_train_epoch_end()  # all finite: no error
