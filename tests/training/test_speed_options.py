"""The speed keys of a fit config, on CPU: one-cycle schedules per step, channels_last, model.compile."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from autolit.errors import UserError
from autolit.training import build_cli, fit_and_test
from autolit.modules import AutoLitModule
from tests.training.conftest import base_config

pytestmark = [pytest.mark.filterwarnings("ignore:.*does not have many workers"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec")]

ONE_CYCLE = {"class_path": "torch.optim.lr_scheduler.OneCycleLR", "init_args": {"max_lr": 0.05}}


class LrTrace(L.Callback):
    """The learning rate each optimizer step uses."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def fitted(config: dict, run_dir: Path, *callbacks: L.Callback):
    cli = build_cli(copy.deepcopy(config), run_dir=run_dir, progress=False, extra_callbacks=callbacks)
    return cli, fit_and_test(cli, test=False)


def with_scheduler(store: Path, scheduler: dict, **trainer) -> dict:
    config = base_config(store)
    config["trainer"].update(trainer)
    config["lr_scheduler"] = scheduler
    return config


def test_one_cycle_without_length_spans_the_fit_step_by_step(tiny_store, tmp_path):
    trace = LrTrace()
    cli, result = fitted(with_scheduler(tiny_store, ONE_CYCLE), tmp_path / "run", trace)
    (sched_cfg,) = cli.trainer.lr_scheduler_configs
    scheduler = sched_cfg.scheduler
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    assert sched_cfg.interval == "step"
    steps = cli.trainer.global_step
    assert steps == 8  # 2 epochs x 4 batches of the tiny store
    assert scheduler.total_steps == steps and scheduler.last_epoch == steps
    # one cycle over the 8 steps: up from max_lr / 25 to max_lr, down to max_lr / 25 / 1e4
    assert len(trace.lrs) == 8 and len(set(trace.lrs)) == 8
    assert trace.lrs[0] == pytest.approx(0.05 / 25) and max(trace.lrs) == pytest.approx(0.05, rel=0.1)
    assert trace.lrs[-1] == pytest.approx(0.05 / 25 / 1e4)
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())["lr_scheduler"]
    assert saved["class_path"] == ONE_CYCLE["class_path"] and saved["init_args"]["total_steps"] is None


def test_one_cycle_with_its_length_keeps_it_and_steps_per_batch(tiny_store, tmp_path):
    scheduler = copy.deepcopy(ONE_CYCLE)
    scheduler["init_args"]["total_steps"] = 100
    cli, _ = fitted(with_scheduler(tiny_store, scheduler), tmp_path / "run")
    (sched_cfg,) = cli.trainer.lr_scheduler_configs
    assert sched_cfg.interval == "step"
    assert sched_cfg.scheduler.total_steps == 100 and sched_cfg.scheduler.last_epoch == 8


def test_epoch_schedulers_still_step_per_epoch(tiny_store, tmp_path):
    cosine = {"class_path": "torch.optim.lr_scheduler.CosineAnnealingLR", "init_args": {"T_max": 2}}
    cli, _ = fitted(with_scheduler(tiny_store, cosine), tmp_path / "run")
    (sched_cfg,) = cli.trainer.lr_scheduler_configs
    assert sched_cfg.interval == "epoch" and sched_cfg.scheduler.last_epoch == 2


def test_one_cycle_of_an_endless_fit_is_a_user_error(tiny_store, tmp_path):
    config = with_scheduler(tiny_store, ONE_CYCLE, max_epochs=-1)
    with pytest.raises(UserError, match=r"OneCycleLR needs the fit's length.*set trainer\.max_epochs"):
        fitted(config, tmp_path / "run")


def test_channels_last_and_compile_train_the_same_weights(tiny_store, tmp_path):
    torch._dynamo.reset()
    config = base_config(tiny_store)
    config["model"].update(channels_last=True, compile={"backend": "eager"})  # dynamo without codegen: fast
    config["model"]["layers"][2:2] = [{"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}]
    cli, result = fitted(config, tmp_path / "run")
    model = cli.model
    conv = model.net[2].weight  # (4, 8, 3, 3): with 8 input channels the two orders differ
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert isinstance(model.__dict__["_compiled_net"], torch._dynamo.eval_frame.OptimizedModule)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # training ran through dynamo
    ckpt = torch.load(result.run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert not any("_orig_mod" in k or "_compiled" in k for k in ckpt["state_dict"])
    rebuilt = AutoLitModule(**ckpt["hyper_parameters"])  # what export does: eager, contiguous
    rebuilt.load_state_dict(ckpt["state_dict"])
    x = torch.randn(4, 1, 8, 8)
    model.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt(x), model.cpu()(x))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"compile": "fast"}, r"model\.compile: unknown mode 'fast'; valid modes: default, reduce-overhead"),
    ({"compile": "reduce_overhead"}, r"unknown mode 'reduce_overhead' \(did you mean 'reduce-overhead'\?\)"),
    ({"compile": {"modes": "default"}}, r"model\.compile: .* a map with keys mode, backend, fullgraph, dynamic"),
    ({"compile": 3}, r"model\.compile: 3 is not understood"),
    ({"channels_last": "yes"}, r"model\.channels_last: 'yes' is not valid .*must be true or false"),
])
def test_bad_speed_options_are_user_errors(kwargs, message):
    spec = [{"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}]
    with pytest.raises(UserError, match=message):
        AutoLitModule(layers=spec, n_labels=3, input_shape=[1, 8, 8], **kwargs)


class StepLosses(L.Callback):
    """Each training step's loss and batch size, as the loop returns them."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, float, int]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps.append((trainer.current_epoch, float(outputs["loss"]), len(batch[1])))


def test_train_loss_is_logged_when_written_and_its_epoch_mean_is_exact(tiny_store, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = base_config(tiny_store)
    config["trainer"]["log_every_n_steps"] = 3  # 2 epochs of 4 steps: Lightning writes steps 2 and 5
    seen = StepLosses()
    cli, result = fitted(config, tmp_path / "run", seen)
    losses = [loss for _, loss, _ in seen.steps]
    events = EventAccumulator(str(result.run_dir)).Reload()
    written = {e.step: e.value for e in events.Scalars("train/loss")}
    assert written == pytest.approx({2: losses[2], 5: losses[5]}, rel=1e-5)
    last = [(loss, n) for epoch, loss, n in seen.steps if epoch == 1]
    sizes = [n for _, n in last]
    assert sizes[:-1] == [32] * (len(sizes) - 1) and sizes[-1] < 32  # a short last batch: the mean is weighted
    mean = sum(loss * n for loss, n in last) / sum(sizes)
    assert float(cli.trainer.callback_metrics["train/loss_epoch"]) == pytest.approx(mean, rel=1e-5)
    assert float(cli.trainer.callback_metrics["train/loss"]) == pytest.approx(last[-1][0], rel=1e-5)
