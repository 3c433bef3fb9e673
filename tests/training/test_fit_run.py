"""``python -m autolit.fit`` end to end on a tiny store: metrics, run folder, TensorBoard, resume."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

from autolit.store.sheet import RIGHT, WRONG
from tests.training.conftest import base_config, write_config

pytestmark = pytest.mark.slow


def fit(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "autolit.fit", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def trained(tiny_store, tmp_path_factory) -> Path:
    """One finished 2-epoch run in a fresh working folder."""
    cwd = tmp_path_factory.mktemp("fit")
    write_config(cwd / "tiny.yaml", base_config(tiny_store))
    proc = fit(["--config", "tiny.yaml"], cwd)
    (cwd / "stdout.txt").write_text(proc.stdout)
    return cwd


def test_prints_test_metrics_and_writes_run_folder(trained):
    out = (trained / "stdout.txt").read_text()
    assert "test/acc" in out and "test/loss" in out
    run = trained / "runs" / "tiny" / "version_0"
    assert (run / "checkpoints" / "best.ckpt").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "config.yaml").is_file()
    resolved = yaml.safe_load((run / "resolved.yaml").read_text())
    conv = resolved["model"]["layers"][0]["Conv2d"]
    assert conv["in_channels"] == 1  # auto filled in
    assert resolved["model"]["layers"][-1]["Linear"] == {"out_features": 3, "in_features": 8 * 8 * 8}
    assert resolved["seed_everything"] == 0
    assert len(resolved["resolved"]["store_fingerprint"]) == 64
    assert resolved["resolved"]["label_names"] == ["bar", "dot", "ring"]


def test_event_files_hold_scalars_hparams_and_images(trained):
    mux = EventMultiplexer()
    mux.AddRunsFromDirectory(str(trained / "runs"))
    mux.Reload()
    (run, tags), = mux.Runs().items()
    for tag in ("train/loss", "val/loss", "val/acc", "val/f1", "test/acc", "test/loss"):
        assert tag in tags["scalars"], (tag, tags["scalars"])
    assert {"samples/val", "val/confusion_matrix"} <= set(tags["images"])
    for tag in ("samples/val", "val/confusion_matrix"):  # one per epoch, each sized for TensorBoard's card
        images = mux.Images(run, tag)
        assert len(images) == 2 and all(400 <= i.width <= 700 for i in images), [(i.width, i.height) for i in images]
    last = np.asarray(Image.open(io.BytesIO(mux.Images(run, "samples/val")[-1].encoded_image_string)).convert("RGB"))
    judged = sum(int((last == [int(c[k:k + 2], 16) for k in (1, 3, 5)]).all(axis=-1).sum()) for c in (RIGHT, WRONG))
    assert judged > 500  # the tiles are framed right/wrong: the grid shows the model's predictions
    hparams = mux.PluginRunToTagToContent("hparams")[run]
    assert b"hparams/test/acc" in hparams["_hparams_/experiment"]
    assert "hparams/test/acc" in tags["scalars"]  # the hparams tab lists the final metrics


def test_resolved_config_replays(trained):
    run = trained / "runs" / "tiny" / "version_0"
    proc = fit(["--config", str(run / "resolved.yaml"), "--trainer.max_epochs=1"], trained)
    assert "test/acc" in proc.stdout
    assert "changed since" not in proc.stderr


def test_resume_from_last_checkpoint(tiny_store, tmp_path):
    write_config(tmp_path / "tiny.yaml", base_config(tiny_store))
    fit(["--config", "tiny.yaml", "--trainer.max_epochs=1"], tmp_path)
    last = tmp_path / "runs" / "tiny" / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 4
    proc = fit(["--config", "tiny.yaml", "--ckpt_path", "last", "--trainer.max_epochs=3"], tmp_path)
    assert "Restoring states" in proc.stdout + proc.stderr
    # epoch 0 from the first run, epochs 1-2 resumed and logged in the same run folder
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 12
    assert not (tmp_path / "runs" / "tiny" / "version_1").exists()


def test_print_config_shows_the_full_config(tiny_store, tmp_path):
    write_config(tmp_path / "tiny.yaml", base_config(tiny_store))
    proc = fit(["--config", "tiny.yaml", "--print_config"], tmp_path)
    printed = yaml.safe_load(proc.stdout)
    assert printed["model"]["task"] == "multiclass"
    assert printed["data"]["batch_size"] == 32
    assert not (tmp_path / "runs").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_serves_the_scalars_over_http(trained):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(trained / "runs"),
                               "--host", "127.0.0.1", "--port", str(port), "--load_fast", "false"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline, tags = time.time() + 90, {}
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/data/plugin/scalars/tags", timeout=5) as resp:
                    tags = json.load(resp)
                if tags and any("test/acc" in t for t in tags.values()):
                    break
            except OSError:
                pass
            time.sleep(1)
        run = next(r for r, t in tags.items() if "test/acc" in t)
        query = urllib.parse.urlencode({"run": run, "tag": "val/acc"})
        with urllib.request.urlopen(f"{base}/data/plugin/scalars/scalars?{query}", timeout=10) as resp:
            points = json.load(resp)
        assert len(points) == 2  # one val/acc per epoch: [wall_time, step, value]
        mux = EventMultiplexer()
        mux.AddRunsFromDirectory(str(trained / "runs"))
        mux.Reload()
        logged = [(e.step, e.value) for e in mux.Scalars(run, "val/acc")]  # the same run (the module's
        # other tests add runs beside it, e.g. the replay's version_1)
        assert [(step, pytest.approx(value)) for _, step, value in points] == logged  # what the run wrote
    finally:
        server.terminate()
        server.wait(timeout=30)
