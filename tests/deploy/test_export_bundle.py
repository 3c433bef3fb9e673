"""What an export folder holds, int8's report, loud verification failures, export from a study."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from autolit.deploy import ExportedModel, export_checkpoint, verify
from autolit.deploy.formats import EXPORTERS
from autolit.deploy.preprocessing import RESIZE_RULE
from autolit.errors import UserError
from autolit.modules.tasks import TASKS
from autolit.store import StoreReader
from tests.errors import says


def test_export_folder_files_and_metadata(digits_export, digits_fit):
    out = digits_export.out_dir
    assert {p.name for p in out.iterdir()} == {
        "model.pt", "model.onnx", "model.int8.pt", "model.int8.onnx",
        "labels.json", "preprocessing.json", "spec.json", "metadata.json"}
    assert json.loads((out / "labels.json").read_text()) == {str(i): str(i) for i in range(10)}
    pre = json.loads((out / "preprocessing.json").read_text())
    assert (pre["image_size"], pre["channels"], pre["resize"]) == (8, 1, RESIZE_RULE)
    assert len(pre["mean"]) == len(pre["std"]) == 1 and pre["std"][0] > 0
    spec = json.loads((out / "spec.json").read_text())
    assert spec["task"] == "multiclass" and spec["input_shape"] == [1, 8, 8] and spec["n_labels"] == 10
    assert spec["layers"][1] == {"Linear": {"out_features": 64, "in_features": 64}}  # resolved dimensions

    meta = json.loads((out / "metadata.json").read_text())
    reader = StoreReader(digits_fit[1])
    fingerprint = reader.meta.fingerprint
    reader.close()
    assert meta["store_fingerprint"] == pre["store_fingerprint"] == fingerprint
    assert meta["checkpoint_metrics"]["monitor"] == "val/acc"
    assert 0.8 < meta["checkpoint_metrics"]["best_model_score"] <= 1.0
    assert len(meta["checkpoint_sha256"]) == 64 and meta["tolerance"] == verify.TOLERANCE
    checks = {row["file"]: row for row in meta["verification"]}
    for name in ("model.pt", "model.onnx"):
        assert checks[name]["ok"] and checks[name]["max_abs_diff"] <= verify.TOLERANCE
        assert checks[name]["top1_agreement"] == 1.0
    test = meta["test_split"]
    assert test["fingerprint_matches"] and test["n"] > 100
    assert meta["sample"] == {"size": test["n"], "source": "store test split",  # the checks see the whole split
                              "batch_size": verify.batch_size_for(1, 8), "threads": meta["sample"]["threads"]}
    assert test["model.onnx"]["acc"] == test["model.pt"]["acc"] == test["checkpoint"]["acc"]
    assert abs(test["checkpoint"]["acc"] - digits_fit[0].metrics["test/acc"]) < 1e-6  # same split, same model


def test_int8_reports_size_and_accuracy_change(digits_export):
    models = digits_export.quantization["models"]
    assert set(models) == {"model.int8.pt", "model.int8.onnx"}
    for name, row in models.items():
        assert row["bytes"] == (digits_export.out_dir / name).stat().st_size < row["float_bytes"]
        assert row["size_ratio"] == round(row["bytes"] / row["float_bytes"], 3)
        assert row["delta_acc"] == pytest.approx(row["int8_acc"] - row["float_acc"], abs=1e-6)
        assert abs(row["delta_acc"]) < 0.05  # int8 Linear weights barely move a digits MLP
    text = digits_export.render()
    assert "int8 model.int8.onnx" in text and "x of" in text and "acc " in text and "FAILED" not in text


def test_compare_fails_on_perturbed_outputs():
    rng = np.random.default_rng(0)
    reference = rng.dirichlet(np.ones(10), size=32).astype(np.float32)
    same = verify.compare(reference, reference + 1e-6, "model.onnx", "onnx", TASKS["multiclass"])
    assert same.ok and same.top1_agreement == 1.0
    off = reference.copy()
    off[0] = np.roll(off[0], 1)  # one row's probabilities shifted: a layout-style bug
    bad = verify.compare(reference, off, "model.onnx", "onnx", TASKS["multiclass"])
    assert not bad.ok and bad.max_abs_diff > verify.TOLERANCE and bad.top1_agreement < 1.0
    assert verify.compare(reference, off, "model.int8.onnx", "onnx", TASKS["multiclass"], tolerance=None).ok  # int8: not enforced


def test_export_fails_loudly_when_a_file_disagrees(digits_export, digits_ckpt, tmp_path, monkeypatch):
    """An exporter that writes slightly wrong weights (a real ONNX file) makes the export fail: the
    earlier export stays as it was, the failed files go to ``<out>.failed``, and predict refuses them."""
    real_onnx = EXPORTERS["onnx"]

    def export_perturbed(model, example, path):
        wrong = copy.deepcopy(model)
        with torch.no_grad():
            for param in wrong.parameters():
                param.mul_(1.05)
        return real_onnx.export(wrong, example, path)

    monkeypatch.setitem(EXPORTERS, "onnx", dataclasses.replace(real_onnx, export=export_perturbed))
    out = tmp_path / "digits"
    shutil.copytree(digits_export.out_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # golden: this room's one test of a whole message, word for word (tests/errors.py)
    with pytest.raises(UserError, match=r"export verification FAILED for model\.onnx: max abs diff .* > "
                                        r"tolerance 0\.0001 vs the checkpoint \(details in .*digits\.failed/"
                                        r"metadata\.json; the files stay there for inspection, predict refuses "
                                        r"them, .*digits was left as it was\)"):
        export_checkpoint(digits_ckpt, out, formats=["torchscript", "onnx"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    failed = tmp_path / "digits.failed"
    meta = json.loads((failed / "metadata.json").read_text())
    assert {row["file"]: row["ok"] for row in meta["verification"]} == {"model.pt": True, "model.onnx": False}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits", "digits.failed"]  # no temporary folder
    with says(UserError, 'digits.failed/metadata.json',
              'records a FAILED verification of model.onnx',
              'fix: re-export'):
        ExportedModel(failed)
    ExportedModel(out)  # the earlier export still opens


def test_reexport_removes_the_previous_exports_files(digits_export, digits_ckpt, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(digits_export.out_dir, out)
    (out / "notes.txt").write_text("mine")
    report = export_checkpoint(digits_ckpt, out, formats=["torchscript"])
    assert {p.name for p in out.iterdir()} == {"model.pt", "labels.json", "preprocessing.json", "spec.json",
                                               "metadata.json", "notes.txt"}  # no stale model.onnx / int8
    assert "metadata.json" in report.render() and report.metadata["formats"] == ["torchscript"]


def test_export_option_errors(digits_ckpt, tmp_path):
    with pytest.raises(UserError, match=r"--format 'tflite': unknown or empty; valid: torchscript, onnx"):
        export_checkpoint(digits_ckpt, tmp_path / "x", formats=["tflite"])
    with pytest.raises(UserError, match=r"--quantize 'int4' is unknown; valid: int8"):
        export_checkpoint(digits_ckpt, tmp_path / "x", quantize="int4")


def _export_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autolit.export", *args], capture_output=True, text=True,
                          timeout=180)


def test_cli_export_best_trial_of_a_study(digits_ckpt, tmp_path):
    """``--storage/--study-name``: the best completed trial's checkpoint (a journal study on disk)."""
    import optuna

    from autolit.search.records import CHECKPOINT
    from autolit.search.storage import open_storage

    journal = tmp_path / "journal.log"
    study = optuna.create_study(study_name="digits", storage=open_storage(str(journal)), direction="maximize")
    dist = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    study.add_trial(optuna.trial.create_trial(value=0.5, params={"lr": 0.05}, distributions=dist,
                                              user_attrs={CHECKPOINT: str(tmp_path / "gone.ckpt")}))
    study.add_trial(optuna.trial.create_trial(value=0.9, params={"lr": 0.01}, distributions=dist,
                                              user_attrs={CHECKPOINT: str(digits_ckpt)}))
    out = tmp_path / "out"
    run = _export_cli("--storage", str(journal), "--study-name", "digits", "--format", "onnx", "--out", str(out))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "study digits: exporting trial 1 (value 0.9)" in run.stdout and "check model.onnx" in run.stdout
    assert json.loads((out / "metadata.json").read_text())["checkpoint"] == str(digits_ckpt)
    assert (out / "model.onnx").is_file() and not (out / "model.pt").exists()

    both = _export_cli(str(digits_ckpt), "--storage", str(journal), "--study-name", "digits", "--out", str(out))
    assert both.returncode == 2 and "either a checkpoint path or both --storage and --study-name" in both.stderr
    missing = _export_cli("--storage", str(journal), "--study-name", "nope", "--out", str(out))
    assert missing.returncode == 2 and "--study-name nope: not in" in missing.stderr
