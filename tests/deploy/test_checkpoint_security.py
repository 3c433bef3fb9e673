"""A tampered checkpoint (a pickle naming a malicious global) is refused and its payload never runs.

The payload is real: unpickling it with a plain ``pickle.load``/``torch.load(weights_only=False)``
would call ``os.system("touch MARKER")``. Every test asserts the marker file never appears.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autolit.deploy import export_checkpoint
from autolit.errors import UserError
from autolit.modules.checkpoint import load_checkpoint
from tests.errors import says


class Payload:
    """Unpickles as ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "the malicious payload ran"


@pytest.fixture
def tampered(digits_ckpt: Path, tmp_path: Path, marker: Path) -> Path:
    """The real digits checkpoint with the payload slipped into its hyper_parameters."""
    ckpt = torch.load(digits_ckpt, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["label_names"] = Payload(f"touch {marker}")
    path = tmp_path / "tampered.ckpt"
    torch.save(ckpt, path)
    return path


def test_tampered_checkpoint_refused_naming_the_global(tampered, tmp_path):
    with says(UserError, 'tampered.ckpt',
              'refusing to load checkpoint',
              'Fix: use a checkpoint written by autolit.fit'):
        load_checkpoint(tampered)
    with pytest.raises(UserError, match="refusing to load checkpoint"):
        export_checkpoint(tampered, tmp_path / "out", formats=["torchscript"])
    assert not (tmp_path / "out" / "model.pt").exists()


def test_cli_refuses_tampered_checkpoint_exit_2(tampered, tmp_path):
    run = subprocess.run([sys.executable, "-m", "autolit.export", str(tampered), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.startswith("error: refusing to load checkpoint") and "Traceback" not in run.stderr
    assert "system" in run.stderr and "never load files from untrusted sources" in run.stderr


def test_plain_pickle_and_garbage_refused(tmp_path, marker):
    messages = {}
    for protocol in (2, pickle.HIGHEST_PROTOCOL):  # a bare pickle (not torch's zip format) with the payload
        legacy = tmp_path / f"legacy{protocol}.ckpt"
        with legacy.open("wb") as handle:
            pickle.dump({"state_dict": {}, "hyper_parameters": Payload(f"touch {marker}")}, handle, protocol)
        with pytest.raises(UserError, match=rf"refusing to load checkpoint .*legacy{protocol}\.ckpt") as info:
            load_checkpoint(legacy)
        messages[protocol] = str(info.value)
    assert "GLOBAL posix.system" in messages[2] or "GLOBAL nt.system" in messages[2]
    assert not any("weights_only` set to `False" in m for m in messages.values())  # never suggest the unsafe load
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match=r"checkpoint .*garbage\.ckpt cannot be read .*fix: pass an intact"):
        load_checkpoint(garbage)
    with pytest.raises(UserError, match=r"checkpoint .*absent\.ckpt does not exist; fix:"):
        load_checkpoint(tmp_path / "absent.ckpt")
    not_lightning = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, not_lightning)
    with pytest.raises(UserError, match=r"is not a Lightning checkpoint of an AutoLitModule"):
        load_checkpoint(not_lightning)
