"""Every configs/search/*.yaml loads, and its space builds at its low and middle ends (meta device)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autolit.search.config import load_search_config
from autolit.search.run.feasibility import DataInfo, probe_space

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "search").glob("*.yaml"))
SHAPES = {"digits": DataInfo((1, 8, 8), 10), "mnist": DataInfo((1, 28, 28), 10),
          "hymenoptera_pretrained": DataInfo((3, 224, 224), 2)}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_search_config_is_valid(path):
    cfg = load_search_config(path)
    probes = probe_space(cfg, lambda config: SHAPES[path.stem])
    assert isinstance(probes["low"], int) and isinstance(probes["mid"], int), probes  # they build, under max_params
    assert cfg.space.layers is not None and any(k.endswith("lr") for k in cfg.space.scalars)  # lr or max_lr
