"""predict on ONNX Runtime loads neither torch nor Lightning: it starts fast and runs without them."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import sys
from autolit.deploy import ExportedModel
from autolit.deploy.inputs import expand
model = ExportedModel(sys.argv[1], "onnx")
preds = list(model.predict(expand(sys.argv[2:])))
assert all(p.error is None for p in preds), preds
heavy = sorted(m for m in ("torch", "lightning", "torchmetrics", "optuna") if m in sys.modules)
print(len(preds), heavy)
"""


def test_onnx_predict_imports_no_torch(digits_export, digit_pngs):
    files = [str(p) for p in digit_pngs[0][:5]]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(digits_export.out_dir), *files],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5 []", proc.stdout
