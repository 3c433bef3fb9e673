"""Fixtures for the Backbone tests: a blocked network, empty weight caches, tiny weight files.

``test_efficientnet`` is timm's own 99k-parameter test architecture (a real EfficientNet layout,
stem + 5 stages + head conv), so these tests build and train real backbones in milliseconds.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
import torch

TINY = "test_efficientnet"            # timm; pretrained config: 160 px, ImageNet mean/std
TINY_HUB_ID = "timm/test_efficientnet.r160_in1k"


@pytest.fixture
def blocked_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every non-loopback connection fails as on a machine without a route (``OSError``); the log."""
    attempts: list[str] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if isinstance(address, tuple) and not ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback:
            attempts.append(str(address[0]))
            raise OSError(101, "Network is unreachable")
        return real_connect(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object):  # no DNS either
        if host not in ("localhost", "127.0.0.1", "::1"):
            attempts.append(str(host))
            raise socket.gaierror(-3, "Temporary failure in name resolution")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Fresh Hugging Face hub and torch.hub caches (nothing downloaded yet)."""
    from huggingface_hub import constants

    hub, torch_home = tmp_path / "hf-hub", tmp_path / "torch-hub"
    hub.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(torch_home))
    yield {"hf": hub, "torch": torch_home}
    torch.hub.set_dir(previous)


def tiny_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A full ``test_efficientnet`` state dict (with its 1000-class head), seeded."""
    import timm

    torch.manual_seed(seed)
    return {k: v.contiguous() for k, v in timm.create_model(TINY).state_dict().items()}


@pytest.fixture(scope="session")
def tiny_safetensors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``test_efficientnet`` weights as a .safetensors file (what a user would download)."""
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("weights") / "test_efficientnet.safetensors"
    save_file(tiny_state(), str(path))
    return path


def put_in_hub_cache(hub: Path, repo_id: str, filename: str, source: Path) -> Path:
    """Lay ``source`` out as huggingface_hub caches a download (refs/main -> snapshot)."""
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    revision = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    target = repo / "snapshots" / revision / filename
    target.parent.mkdir(parents=True)
    target.write_bytes(source.read_bytes())
    return target
