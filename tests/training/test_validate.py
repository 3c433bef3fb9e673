"""check_fit_config refuses what ``autolit.fit`` refuses, with its message, and writes nothing."""

from __future__ import annotations

import copy
import os

import pytest

from autolit.errors import UserError
from autolit.training import check_fit_config
from tests.training.conftest import base_config


def _refused(config: dict) -> str:
    with pytest.raises(UserError) as exc:
        check_fit_config(config)
    return str(exc.value)


def test_a_good_config_passes_and_nothing_is_written(tiny_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)  # an earlier fit in this process set it
    before = sorted(os.listdir(tiny_store))
    parsed = check_fit_config(base_config(tiny_store))
    assert parsed["trainer"]["max_epochs"] == 2 and parsed["data"]["batch_size"] == 32
    assert list(tmp_path.iterdir()) == [] and sorted(os.listdir(tiny_store)) == before
    assert "PL_GLOBAL_SEED" not in os.environ  # no seed drawn in the checking process


def test_a_store_to_be_built_from_its_source_is_not_built(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = base_config(tmp_path / "stores" / "digits")
    config["data"]["source"] = "digits"
    check_fit_config(config)
    assert not (tmp_path / "stores").exists()


@pytest.mark.parametrize("change, key", [
    (lambda c: c["optimizer"]["init_args"].update(lr=-1), "optimizer.init_args.lr"),   # the optimizer checks
    (lambda c: c["trainer"].update(max_epoch=3), "max_epoch"),                         # the parser's, rephrased
    (lambda c: c["data"].update(store="/nonexistent/store"), "data.store"),
    (lambda c: c["data"].update(store="/nonexistent/store", source="digitz"), "data.source"),
    (lambda c: c.update(lr_scheduler={"class_path": "torch.optim.lr_scheduler.StepLR",
                                      "init_args": {"step_size": 0}}), "lr_scheduler.init_args.step_size"),
])
def test_refusals_name_the_key(tiny_store, change, key):
    config = copy.deepcopy(base_config(tiny_store))
    change(config)
    message = _refused(config)
    assert key in message and "\n" not in message


def test_the_fit_refuses_the_same_config_with_the_same_line(tiny_store, tmp_path, monkeypatch):
    """One set of checks: the fit's own CLI says exactly what the check said."""
    from autolit.training import build_cli

    monkeypatch.chdir(tmp_path)
    config = base_config(tiny_store)
    config["optimizer"]["init_args"]["lr"] = -1
    with pytest.raises(UserError) as fit_exc:
        build_cli(copy.deepcopy(config))
    assert str(fit_exc.value) == _refused(config)
