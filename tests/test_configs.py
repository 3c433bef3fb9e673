"""Every runnable ``configs/*.yaml`` parses and instantiates: trainer, model, data and optimizer.

Each config is built by the real CLI (``autolit.training.build_cli``, no training) against a store in a
temporary folder made from the config's own ``data.source``, so its layer spec, links, optimizer
and scheduler arguments are all checked the way ``python -m autolit.fit --config`` checks them.
Configs that read ``../shared/data`` are real-data tests. (configs/search/: tests/search/test_configs.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, shared_data_dir

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
SHARED = "../shared/data"
PARAMS = [pytest.param(p, id=p.stem, marks=[pytest.mark.realdata] if SHARED in p.read_text() else [])
          for p in CONFIGS]


def _reroot(value: Any) -> Any:
    """Point ``../shared/data/...`` sources at the real-data folder wherever the tests run."""
    if isinstance(value, str) and SHARED in value:
        return value.replace(SHARED, str(shared_data_dir()))
    if isinstance(value, list):
        return [_reroot(v) for v in value]
    if isinstance(value, dict):
        return {k: _reroot(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("path", PARAMS)
def test_fit_config_builds(path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if SHARED in path.read_text():
        request.getfixturevalue("shared_data")  # skips, with the reason, without the real data
    from autolit.training import build_cli

    config = _reroot(yaml.safe_load(path.read_text()))
    config["data"]["store"] = str(tmp_path / "store")
    config["trainer"] = {**config.get("trainer", {}), "accelerator": "cpu"}
    cli = build_cli(config, run_dir=tmp_path / "run", progress=False)
    data, model = cli.datamodule, cli.model
    assert model.hparams.n_labels == data.n_labels and list(model.hparams.input_shape) == data.input_shape
    assert model.task_def.head_width(data.n_labels) == model.net(model.example_input_array).shape[-1]
    assert cli.trainer.max_epochs == config["trainer"]["max_epochs"]


def test_every_config_says_how_to_run_it() -> None:
    """Each config's header names its command, the way entry modules' docstrings do."""
    missing = [p.name for p in CONFIGS if f"--config configs/{p.name}" not in p.read_text()]
    assert not missing, f"no `python -m autolit.fit --config configs/<name>` line in: {missing}"
