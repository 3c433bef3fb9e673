"""The binary task end to end (configs/digits_parity.yaml's data and head): one P(label 1) everywhere.

The head is one logit; the task definition turns it into ``P(odd)``. The checkpoint (eager torch,
the module's own ``predict_step``), the TorchScript and ONNX files, and ``python -m autolit.predict``
on PNG files of every test image must all give that same probability.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from autolit.deploy import export_checkpoint
from autolit.modules.checkpoint import load_checkpoint, rebuild_model
from autolit.deploy.runtime import load_runtime
from autolit.store import StoreReader
from tests.conftest import REPO


@pytest.fixture(scope="module")
def parity(tmp_path_factory: pytest.TempPathFactory):
    """(checkpoint, export dir, test images uint8 (N, 1, 8, 8), PNG paths) of a short parity fit."""
    from autolit.training import run_fit

    root = tmp_path_factory.mktemp("parity")
    config = yaml.safe_load((REPO / "configs" / "digits_parity.yaml").read_text())
    config["data"]["store"] = str(root / "store")
    config["trainer"].update(max_epochs=2, accelerator="cpu", enable_model_summary=False)
    result = run_fit(config, run_dir=root / "run", progress=False)
    out = export_checkpoint(result.best_checkpoint, root / "export").out_dir
    reader = StoreReader(root / "store")
    images, paths = [], []
    for n, key in enumerate(reader.keys("test")):
        data, _ = reader.read(key)
        path = root / "pngs" / f"{n:03d}.png"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)  # the stored PNG itself: predict decodes it like training did
        images.append(np.asarray(Image.open(path))[None])
        paths.append(path)
    return result.best_checkpoint, out, np.stack(images), paths


def test_checkpoint_torchscript_onnx_and_predict_give_one_p_label_1(parity):
    ckpt_path, export_dir, images, paths = parity
    ckpt = load_checkpoint(ckpt_path)
    model = rebuild_model(ckpt, ckpt_path)
    pre = ckpt["hyper_parameters"]["preprocessing"]
    mean, std = (torch.tensor(pre[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    x = (torch.from_numpy(images).float() / 255 - mean) / std
    with torch.inference_mode():
        expected = model.predict_step(x, 0)[:, 0].numpy()                       # P(label 1), (N,)
    assert len(expected) > 100 and 0.05 < (expected >= 0.5).mean() < 0.95      # both labels predicted
    for runtime in ("torchscript", "onnx"):
        got = load_runtime(export_dir, runtime).run(x.numpy())
        assert got.shape == (len(expected), 1)
        np.testing.assert_allclose(got[:, 0], expected, atol=1e-5, err_msg=runtime)

    proc = subprocess.run([sys.executable, "-m", "autolit.predict", str(export_dir), *map(str, paths),
                           "--json", "--top-k", "2"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["path"]) for r in rows] == paths
    labels = json.loads((export_dir / "labels.json").read_text())
    p_label_1 = np.array([next(t["prob"] for t in r["top"] if t["label"] == labels["1"]) for r in rows])
    np.testing.assert_allclose(p_label_1, expected, atol=1e-5)
