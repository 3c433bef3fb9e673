"""--devices parsed into worker slots (autolit/search/run/devices.py)."""

from __future__ import annotations

import pytest

from autolit.errors import UserError
from autolit.search.run.devices import parse_devices


@pytest.mark.parametrize("spec, per, want", [
    ("cpu:2", 1, [("cpu", None, 1, ""), ("cpu", None, 1, "")]),
    ("auto", 1, [("cpu", None, 2, "")]),
    ("0,1", 2, [("gpu", 0, 1, "0"), ("gpu", 0, 1, "0"), ("gpu", 1, 1, "1"), ("gpu", 1, 1, "1")]),
])
def test_device_slots(spec, per, want, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    slots = parse_devices(spec, per, gpus=0 if spec == "auto" else 2, cores=2)
    assert [(s.accelerator, s.gpu, s.threads, s.env["CUDA_VISIBLE_DEVICES"]) for s in slots] == want
    assert len({s.index for s in slots}) == len(slots)


def test_auto_uses_all_gpus(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [s.label for s in parse_devices("auto", 2, gpus=2, cores=16)] == ["gpu0#0", "gpu0#1", "gpu1#2", "gpu1#3"]


@pytest.mark.parametrize("spec, match", [("cpu:0", r"cpu:N with 1 <= N <= 64"), ("gpu", r"use auto, cpu:N or GPU ids"),
                                         ("cpu:x", r"cpu:N"), ("cpu:500", r"cpu:N with 1 <= N <= 64"),
                                         ("0,0", r"a GPU is listed twice; use --per-device")])
def test_bad_devices(spec, match):
    with pytest.raises(UserError, match=match):
        parse_devices(spec, cores=2, gpus=2)


def test_devices_naming_a_gpu_that_is_not_there_stop_with_what_is_visible(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(UserError, match=r"--devices 5: GPU 5 is not visible: this machine shows no GPU; "
                                        r"use --devices auto, cpu:N"):
        parse_devices("5", gpus=0)
    with pytest.raises(UserError, match=r"--devices 0,2: GPU 2 is not visible: this machine shows 2 GPU\(s\), ids 0\.\.1"):
        parse_devices("0,2", gpus=2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.raises(UserError, match=r"shows 1 GPU\(s\), ids 0\.\.0 \(CUDA_VISIBLE_DEVICES='3'\)"):
        parse_devices("1")
    assert parse_devices("0")[0].env["CUDA_VISIBLE_DEVICES"] == "3"
