"""Backbone weights: a local file, the library's cache, and the offline message (no hang, no traceback)."""

from __future__ import annotations

import os
import pickle
import socket
import threading
from pathlib import Path

import pytest
import torch

from autolit.errors import UserError
from autolit.modules import weights as weights_mod
from autolit.modules.backbone import Backbone
from tests.modules.conftest import TINY, TINY_HUB_ID, put_in_hub_cache, tiny_state


def _same_as_file(backbone: Backbone, state: dict[str, torch.Tensor]) -> bool:
    own = backbone.model.state_dict()
    return all(torch.equal(own[k], state[k]) for k in own)


def test_safetensors_path_loads_through_timm(tiny_safetensors: Path, blocked_network: list[str]) -> None:
    backbone = Backbone(TINY, weights=str(tiny_safetensors))
    assert _same_as_file(backbone, tiny_state())
    assert not _same_as_file(Backbone(TINY, weights="none"), tiny_state())
    assert blocked_network == []


def test_state_dict_path_loads_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pth"
    torch.save({"state_dict": tiny_state(seed=3)}, path)
    assert _same_as_file(Backbone(TINY, weights=str(path)), tiny_state(seed=3))


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("content", ["missing", "garbage", "pickle", "other-arch"])
def test_a_bad_weights_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / ("w.safetensors" if content == "garbage" else "w.pth")
    if content == "garbage":
        path.write_bytes(b"\x00not a safetensors file" * 10)
    elif content == "pickle":
        path.write_bytes(pickle.dumps({"conv_stem.weight": _Boom()}))
    elif content == "other-arch":
        torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    expected = (rf"weights file {path} does not exist; fix: give the path" if content == "missing"
                else rf"model\.layers\[0\]\.Backbone\.weights: cannot load weights file {path} into timm {TINY} "
                     r"\(.+\); fix: pass an intact \.safetensors or weights-only state dict")
    with pytest.raises(UserError, match=expected):
        Backbone(TINY, weights=str(path), where="model.layers[0].Backbone")
    assert not (tmp_path / "PWNED").exists()


def test_imagenet_weights_come_from_the_hub_cache_offline(empty_caches: dict[str, Path], tiny_safetensors: Path,
                                                          blocked_network: list[str]) -> None:
    """Once downloaded, ``weights: imagenet`` loads the library's cached copy without the network."""
    put_in_hub_cache(empty_caches["hf"], TINY_HUB_ID, "model.safetensors", tiny_safetensors)
    assert _same_as_file(Backbone(TINY, weights="imagenet"), tiny_state())
    assert blocked_network == []


def _offline_message(name: str) -> str:
    return (rf"model\.layers\[0\]\.Backbone\.weights: imagenet weights for {name} are not in the cache \(.+\) "
            rf"and cannot be downloaded \(.+\); fix: on a machine with network download https://\S+, copy "
            rf"it here \(e\.g\. to weights/{name}\.\w+\) and write weights: weights/{name}\.\w+")


def test_offline_imagenet_stops_with_one_line(empty_caches: dict[str, Path], blocked_network: list[str]) -> None:
    with pytest.raises(UserError, match=_offline_message(TINY)) as info:
        Backbone(TINY, weights="imagenet", where="model.layers[0].Backbone")
    assert "\n" not in str(info.value) and "model.safetensors" in str(info.value)
    assert blocked_network  # it did try: one probe, then the message


def test_hf_hub_offline_is_respected_without_any_connection(empty_caches: dict[str, Path],
                                                            blocked_network: list[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match=_offline_message(TINY) + ".*") as info:
        Backbone(TINY, weights="imagenet", where="model.layers[0].Backbone")
    assert "HF_HUB_OFFLINE is set" in str(info.value)
    assert blocked_network == []


def test_a_host_that_never_answers_times_out(empty_caches: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts the connection and then says nothing: the probe's deadline ends it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
    monkeypatch.setattr(weights_mod, "PROBE_TIMEOUT_S", 0.5)
    try:
        with pytest.raises(UserError, match=r"cannot be downloaded \((no answer within 0\.5 s|.*timed out)\)"):
            Backbone(TINY, weights="imagenet", where="model.layers[0].Backbone")
    finally:
        silent.close()
        for conn in accepted:
            conn.close()


def test_torchvision_offline_and_from_a_file(empty_caches: dict[str, Path], blocked_network: list[str],
                                             tmp_path: Path) -> None:
    with pytest.raises(UserError, match=_offline_message("mobilenet_v3_small")) as info:
        Backbone("mobilenet_v3_small", weights="imagenet", where="model.layers[0].Backbone")
    assert "download.pytorch.org/models/mobilenet_v3_small" in str(info.value)
    from autolit.modules.archs import torchvision_model

    torch.manual_seed(1)
    full = torchvision_model("mobilenet_v3_small").state_dict()
    path = tmp_path / "mnv3.pth"
    torch.save(full, path)
    backbone = Backbone("mobilenet_v3_small", weights=str(path))
    assert torch.equal(backbone.model.features[0][0].weight, full["features.0.0.weight"])
    assert backbone(torch.zeros(2, 3, 32, 32)).shape == (2, 1024)  # ImageNet head removed


@pytest.fixture
def unsafe_timm_loader(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """timm's file loader as releases before weights_only=True (with torch < 2.6) had it: a plain
    unpickling ``torch.load``; the files it was asked to read."""
    import timm.models._builder as builder

    real, read = builder.load_state_dict, []

    def load_state_dict(path: str, *args: object, **kwargs: object) -> dict:
        read.append(str(path))
        if str(path).endswith(".safetensors"):
            return real(path, *args, **kwargs)
        return torch.load(path, map_location="cpu", weights_only=False)

    monkeypatch.setattr(builder, "load_state_dict", load_state_dict)
    return read


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_timm_never_unpickles_a_weights_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             unsafe_timm_loader: list[str]) -> None:
    """Safe whatever timm/torch pair is installed: timm is handed only .safetensors files."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "w.pth"
    path.write_bytes(pickle.dumps({"conv_stem.weight": _Boom()}))
    with pytest.raises(UserError, match=r"cannot load weights file .*\(refused: it references Python objects"):
        Backbone(TINY, weights=str(path))
    assert not (tmp_path / "PWNED").exists()
    good = tmp_path / "good.pth"
    torch.save({"state_dict": tiny_state(seed=5), "epoch": 3}, good)
    assert _same_as_file(Backbone(TINY, weights=str(good)), tiny_state(seed=5))
    assert unsafe_timm_loader and all(p.endswith(".safetensors") for p in unsafe_timm_loader)


def test_a_grey_backbone_from_a_state_dict_file_gets_the_summed_stem(tmp_path: Path) -> None:
    """The .safetensors hand-over keeps timm's pretrained path: in_chans 1 sums the stem over RGB."""
    path = tmp_path / "tiny.pth"
    torch.save(tiny_state(seed=2), path)
    stem = Backbone(TINY, weights=str(path), in_chans=1).model.conv_stem.weight
    assert torch.allclose(stem, tiny_state(seed=2)["conv_stem.weight"].sum(dim=1, keepdim=True))
