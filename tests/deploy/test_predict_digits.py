"""Must-show: train digits, export, predict on PNG files drawn from scikit-learn's arrays.

The checkpoint's own predictions come from the checkpoint rebuilt in eager PyTorch, fed by the
training code's own functions (``decode_image`` + ``normalize_batch``) on the same PNG files;
predict reads the files through the export's preprocessing.json and an exported runtime. The
PNGs are 32x32 (every third RGB); the training rule's antialiased 4x reduction blends neighbouring
pixels a little, so they are not bit-identical to the store's 8x8 images, which is why accuracy
is compared with the checkpoint's test accuracy within binomial noise rather than exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from autolit.datamodules.preprocess import decode_image, normalize_batch
from autolit.deploy import verify
from autolit.modules.checkpoint import load_checkpoint, rebuild_model
from autolit.deploy import ExportedModel, predict_paths


@pytest.fixture(scope="session")
def checkpoint_on_pngs(digits_ckpt, digit_pngs) -> np.ndarray:
    """Probabilities (N, 10) of the checkpoint in eager PyTorch on the PNGs, by the training code path."""
    ckpt = load_checkpoint(digits_ckpt)
    pre = ckpt["hyper_parameters"]["preprocessing"]
    images = np.stack([decode_image(p.read_bytes(), pre["image_size"], pre["channels"]) for p in digit_pngs[0]])
    mean = torch.tensor(pre["mean"]).reshape(1, -1, 1, 1)
    std = torch.tensor(pre["std"]).reshape(1, -1, 1, 1)
    model = rebuild_model(ckpt, digits_ckpt)
    with torch.inference_mode():
        return torch.softmax(model(normalize_batch(torch.from_numpy(images), mean, std)), dim=-1).numpy()


def test_api_top1_matches_checkpoint_on_every_png(digits_export, digit_pngs, checkpoint_on_pngs):
    paths, probs = digit_pngs[0], checkpoint_on_pngs
    assert len(paths) == len(probs) > 100
    expected = probs.argmax(axis=1)
    for runtime in ("onnx", "torchscript"):
        preds = predict_paths(digits_export.out_dir, [str(p) for p in paths], runtime=runtime, batch_size=50)
        assert [p.path for p in preds] == [str(p) for p in paths]  # input order kept across batches
        got = np.array([int(p.top[0][0]) for p in preds])
        mismatched = [str(paths[i].name) for i in np.flatnonzero(got != expected)]
        assert not mismatched, f"{runtime}: top-1 differs from the checkpoint on {mismatched}"
        top1_probs = np.array([p.top[0][1] for p in preds])
        np.testing.assert_allclose(top1_probs, probs.max(axis=1), atol=1e-4)


def test_onnx_and_torchscript_agree(digits_export, digit_pngs):
    files = [str(p) for p in digit_pngs[0]]
    outputs = {}
    for runtime in ("onnx", "torchscript"):
        model = ExportedModel(digits_export.out_dir, runtime)
        assert model.runtime.name == runtime
        images = np.stack([model.pre.decode(open(f, "rb").read()) for f in files])
        outputs[runtime] = model.outputs(images)
    diff = np.abs(outputs["onnx"] - outputs["torchscript"]).max()
    assert diff <= verify.TOLERANCE, f"onnx vs torchscript max |diff| {diff:.2e}"
    assert np.array_equal(outputs["onnx"].argmax(1), outputs["torchscript"].argmax(1))


def test_cli_json_accuracy_matches_checkpoint_test_accuracy(digits_fit, digits_export, digit_pngs):
    """The real CLI on the PNG folder: accuracy equals the checkpoint's test/acc within noise."""
    paths, targets = digit_pngs
    run = subprocess.run([sys.executable, "-m", "autolit.predict", str(digits_export.out_dir),
                          str(paths[0].parent), "--json", "--top-k", "2", "--threads", "1"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(p) for p in paths]  # folder walked in sorted order
    assert all(len(r["top"]) == 2 and r["label"] == r["top"][0]["label"] for r in rows)
    acc = float(np.mean([int(r["label"]) == t for r, t in zip(rows, targets)]))
    test_acc = float(digits_fit[0].metrics["test/acc"])
    noise = 2 * np.sqrt(test_acc * (1 - test_acc) / len(rows)) + 1e-9  # two binomial standard errors
    assert test_acc > 0.85, digits_fit[0].metrics
    assert abs(acc - test_acc) <= noise, f"PNG accuracy {acc:.4f} vs checkpoint test/acc {test_acc:.4f}"
