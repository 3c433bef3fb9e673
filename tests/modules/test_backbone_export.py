"""A Backbone model end to end: fit → export (TorchScript + ONNX verified ≤ 1e-4, int8 report) →
predict on image files, top-1 equal to the checkpoint's on every file.

The real ``tf_efficientnet_lite0`` architecture (TensorFlow "same" padding, built by timm) with
random weights at 64 px, so no weights file is needed and it stays fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from autolit.modules.checkpoint import load_checkpoint, rebuild_model
from autolit.deploy.checkpoint import predictor
from autolit.deploy.preprocessing import Preprocessing
from autolit.deploy import export_checkpoint
from autolit.training import run_fit
from autolit.deploy import predict_paths
from tests.training.conftest import base_config

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def trained(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = base_config(tiny_store)
    config["model"] = {"task": "multiclass", "freeze_epochs": 1, "layers": [
        {"Backbone": {"name": "tf_efficientnet_lite0", "weights": "none", "trainable": "last:1"}},
        {"Dropout": {"p": 0.2}}, {"Linear": {"out_features": "n_labels"}}]}
    config["data"].update(image_size=64, channels=3)
    config["trainer"].update(max_epochs=2, enable_progress_bar=False, enable_model_summary=False)
    return run_fit(config, run_dir=tmp_path_factory.mktemp("fit") / "run", progress=False).best_checkpoint


def test_export_verifies_and_predict_matches_the_checkpoint_on_files(trained: Path, tmp_path: Path) -> None:
    report = export_checkpoint(trained, tmp_path / "export", ["torchscript", "onnx"], quantize="int8")
    float_checks = [a for a in report.agreements if a.tolerance is not None]
    assert {a.file for a in float_checks} == {"model.pt", "model.onnx"}
    assert all(a.max_abs_diff <= 1e-4 for a in float_checks)
    assert report.quantization and set(report.quantization["models"]) == {"model.int8.pt", "model.int8.onnx"}
    pre = Preprocessing.load(tmp_path / "export")
    assert (pre.image_size, pre.channels) == (64, 3)

    rng = np.random.default_rng(0)
    files = []
    for i in range(12):  # photos of other sizes: predict resizes them by the training rule
        path = tmp_path / "photos" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40 + 7 * i, 90, 3), dtype=np.uint8)).save(path)
        files.append(path)
    predicted = {p.path: p.top[0][0] for p in predict_paths(tmp_path / "export", [str(tmp_path / "photos")])}

    ckpt = load_checkpoint(trained)
    net = predictor(rebuild_model(ckpt))
    names = ckpt["hyper_parameters"]["label_names"]
    with torch.inference_mode():
        x = pre.normalize(np.stack([pre.decode(f.read_bytes()) for f in files]))  # (12, 3, 64, 64)
        reference = net.task.top1(net(torch.from_numpy(x)).numpy())
    assert {str(f): names[int(k)] for f, k in zip(files, reference)} == predicted
