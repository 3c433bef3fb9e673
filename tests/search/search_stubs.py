"""Stub objective for search tests: the real sampling/feasibility code, a fake ``run_fit``.

Lives in its own module (not a test file) so spawned worker processes can import it by name.
The fake fit reads ``stub:`` from the fit config: ``sleep`` seconds per epoch, ``epochs``,
``fail`` (a parameter value that raises), ``nan`` (lr above which the loss "diverges"),
``hang_file`` + ``hang_from`` (trials numbered ``hang_from`` or more wait, before their first epoch,
for as long as that file exists: a test can kill a search while those are surely running),
``crash`` (the worker process dies at once with that exit code) and ``print`` (text the fit prints).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from autolit.search.run.callbacks import PruningReporter
from autolit.search.run.feasibility import DataInfo
from autolit.search.run.objective import Objective

INFO = DataInfo(input_shape=(1, 8, 8), n_labels=10)


def stub_info(config: dict) -> DataInfo:
    """Data info of the pretend 8x8 digits."""
    return INFO


@dataclass
class FakeResult:
    metrics: dict[str, float]
    best_checkpoint: Path | None
    run_dir: Path
    resolved_config: dict


def _score(config: dict) -> float:
    """A smooth function of lr and depth so TPE has something to find."""
    lr = config.get("optimizer", {}).get("init_args", {}).get("lr", 1e-2)
    depth = len(config.get("model", {}).get("layers", []))
    return 1.0 / (1.0 + (math.log10(lr) + 2.0) ** 2) + 0.01 * depth


def fake_fit(config: dict, *, run_dir: Path, callbacks: Any = (), test: bool = True,
             progress: bool = True) -> FakeResult:
    """Pretend to train: report a rising metric per epoch to the pruning callback."""
    stub = config.get("stub", {})
    lr = config.get("optimizer", {}).get("init_args", {}).get("lr", 1e-2)
    if "nan" in stub and lr > stub["nan"]:
        from autolit.modules import NonFiniteLossError

        raise NonFiniteLossError("train/loss became nan at epoch 0 step 3")
    if stub.get("user_error"):
        from autolit.errors import UserError

        raise UserError("data.store: /nowhere does not exist: fix the path")
    if stub.get("bug"):
        raise ValueError("a bug in the fit")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    if "print" in stub:
        print(stub["print"], flush=True)
        print(stub["print"], file=sys.stderr, flush=True)
    if "crash" in stub:
        os._exit(int(stub["crash"]))
    number = int(run_dir.name.rsplit("_", 1)[-1])
    deadline = time.time() + 120
    while "hang_file" in stub and number >= stub.get("hang_from", 0) and Path(stub["hang_file"]).exists():
        time.sleep(0.1)
        if time.time() > deadline:
            break
    final = _score(config)
    trainer = SimpleNamespace(sanity_checking=False, callback_metrics={}, current_epoch=0, should_stop=False)
    epochs = int(stub.get("epochs", 3))
    for epoch in range(epochs):
        time.sleep(float(stub.get("sleep", 0.0)))
        trainer.current_epoch = epoch
        trainer.callback_metrics = {"val/acc": final * (epoch + 1) / epochs}
        for cb in callbacks:
            cb.on_validation_end(trainer, None)
        if trainer.should_stop:
            break
    (run_dir / "best.ckpt").write_bytes(b"fake")
    return FakeResult({"val/acc": final, "val/loss": 1 - final}, run_dir / "best.ckpt", run_dir, config)


def stub_factory(cfg: Any, slot: Any, runs_dir: Path) -> Objective:
    """Objective factory for workers: real sampling, fake fit."""
    return Objective(cfg, slot, runs_dir, fit=fake_fit, data_info=stub_info, pruning=PruningReporter)


if __name__ == "__main__":
    # `python tests/search/search_stubs.py <args of python -m autolit.search>`: the real CLI with the stub fit.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo, so `tests` is a package
    from autolit.errors import run_cli
    from autolit.search.__main__ import main
    from tests.search import search_stubs  # by its package name, so spawned workers can unpickle the factory

    run_cli(lambda: main(sys.argv[1:], factory=search_stubs.stub_factory, data_info=search_stubs.stub_info))
