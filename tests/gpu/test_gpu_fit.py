"""The speed recipe on a GPU: bf16, channels_last, data resident on the device, few host syncs.

Synthetic 28x28 store (three shapes), configs/mnist_fast.yaml's settings; seconds, not minutes.
``torch.compile`` on the GPU is measured (and its accuracy checked) by ``bench_fit.py --parts
variants`` in scripts/gpu_check.sh, where its minute of compiling fits the time plan.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from autolit.training import build_cli, fit_and_test
from tests.recipe import PerStep, recipe_config
from tests.synthetic import write_store

pytestmark = [pytest.mark.gpu, pytest.mark.filterwarnings("ignore:.*LeafSpec")]


@pytest.fixture(scope="module")
def store28(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("stores") / "s28", n=3000, size=28)


def recipe(store: Path, **trainer) -> dict:
    return recipe_config(store, 64, accelerator="gpu", **trainer)


def test_recipe_trains_on_the_gpu_with_every_speed_key(store28, tmp_path):
    cli = build_cli(recipe(store28), run_dir=tmp_path / "run", progress=False)
    result = fit_and_test(cli)
    model, trainer = cli.model, cli.trainer
    assert model.device.type == "cuda" and trainer.precision == "bf16-mixed"
    x, _ = next(iter(trainer.datamodule.train_dataloader()))
    assert x.device.type == "cuda" and x.dtype == torch.uint8  # served from the device copy
    assert model.net[4].weight.is_contiguous(memory_format=torch.channels_last)
    assert trainer.optimizers[0].defaults["fused"] is True
    assert result.metrics["test/acc"] > 0.95


def test_recipe_does_not_sync_with_the_host_every_step(store28, tmp_path):
    config = recipe(store28, max_epochs=2, limit_val_batches=0, num_sanity_val_steps=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # each synchronizing CUDA call warns: "called a synchronizing CUDA operation"
        counter = PerStep(lambda: sum("synchronizing" in str(w.message) for w in caught))
        cli = build_cli(config, run_dir=tmp_path / "run", progress=False, extra_callbacks=[counter])
        torch.cuda.set_sync_debug_mode("warn")
        try:
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    steps = len(counter.deltas)
    assert steps >= 50
    # the finite-loss guard and the logger look once per 50 steps each
    assert sum(counter.deltas) <= 2 * (steps // 50 + 1), (counter.deltas, [str(w.message)[:120] for w in caught[-5:]])

