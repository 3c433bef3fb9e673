"""configs/mnist_fast.yaml, on CPU: it parses, trains with every speed key, and syncs rarely with the host.

A GPU runs ahead of Python until something reads a device value (``.item()``, ``bool(t)``): that
read is a host sync, and one per step starves a small model's GPU. On CPU the same reads show up
as ``aten._local_scalar_dense`` calls, so a dispatch mode counts them here without a GPU.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from autolit.training import build_cli, fit_and_test
from autolit.modules import AutoLitModule
from tests.recipe import PerStep, recipe_config
from tests.synthetic import write_store

pytestmark = [pytest.mark.filterwarnings("ignore:.*does not have many workers"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec")]


class HostReads(TorchDispatchMode):
    """Counts the ops that copy one device value to the host (what ``.item()`` / ``bool()`` run)."""

    READS = {torch.ops.aten._local_scalar_dense.default}

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in self.READS:
            self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def store28(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("stores") / "s28", n=1200, size=28)


def test_recipe_uses_the_speed_keys_and_learns(store28, tmp_path):
    config = recipe_config(store28, 16, max_epochs=2)
    cli = build_cli(copy.deepcopy(config), run_dir=tmp_path / "run", progress=False)
    result = fit_and_test(cli, test=True)
    model, trainer = cli.model, cli.trainer
    assert isinstance(model, AutoLitModule) and model.speed["channels_last"]
    assert trainer.precision == "bf16-mixed"
    assert trainer.datamodule._resolved_cache_mode() == "device"
    opt = trainer.optimizers[0]
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["fused"] is True
    (sched,) = trainer.lr_scheduler_configs
    assert isinstance(sched.scheduler, torch.optim.lr_scheduler.OneCycleLR) and sched.interval == "step"
    assert sched.scheduler.total_steps == trainer.global_step
    assert result.metrics["test/acc"] > 0.9  # three easy shapes


def test_recipe_reads_the_host_rarely(store28, tmp_path, monkeypatch):
    # What an accelerator run does: the finite-loss guard looks only every N steps (CPU: every step).
    monkeypatch.setattr(AutoLitModule, "check_every_step", False)
    reads = HostReads()
    per_step = PerStep(lambda: reads.count)
    config = recipe_config(store28, 16, max_epochs=2, limit_val_batches=0, num_sanity_val_steps=0)
    cli = build_cli(config, run_dir=tmp_path / "run", progress=False, extra_callbacks=[per_step])
    with reads:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    steps = len(per_step.deltas)
    assert steps >= 100
    # the guard and the logger each read once per 50 steps; a progress bar would read every step
    assert sum(per_step.deltas) <= 2 * (steps // 50 + 1), per_step.deltas
