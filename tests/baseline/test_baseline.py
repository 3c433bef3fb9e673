"""``python -m autolit.baseline``: four scikit-learn baselines on pixels or frozen backbone features."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autolit.baseline import main
from autolit.errors import UserError
from autolit.store import StoreWriter, encode_array
from tests.modules.conftest import TINY

MODELS = ["logistic regression", "k-NN (k=5)", "linear SVM", "random forest"]


def rows_of(capsys: pytest.CaptureFixture) -> tuple[str, dict]:
    out = capsys.readouterr().out.strip().splitlines()
    return "\n".join(out[:-1]), json.loads(out[-1])


def test_pixels_table_beats_chance(tiny_store: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--store", str(tiny_store), "--image-size", "8", "--json"]) == 0
    table, figures = rows_of(capsys)
    assert [row["model"] for row in figures["rows"]] == MODELS
    assert figures["features"] == "pixels 1x8x8" and figures["metric"] == "acc"
    assert all(row["test"] > 0.6 for row in figures["rows"])  # three shapes; chance is 1/3
    for name in MODELS:
        assert name in table
    assert "test acc" in table.splitlines()[1]


def test_backbone_features(tiny_store: Path, tiny_safetensors: Path, capsys: pytest.CaptureFixture) -> None:
    """Frozen test_efficientnet features at its pretrained config's 160 px, RGB."""
    assert main(["--store", str(tiny_store), "--features", TINY, "--weights", str(tiny_safetensors), "--json"]) == 0
    _, figures = rows_of(capsys)
    assert figures["features"] == f"{TINY} features (256) at 160 px"
    assert len(figures["rows"]) == 4 and all(row["test"] > 0.6 for row in figures["rows"])  # chance is 1/3


def test_regression_store_reports_mae(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(0)
    with StoreWriter(tmp_path / "reg", task="regression") as writer:
        for i in range(120):
            value = float(i % 12)
            img = np.full((8, 8), int(value * 20), dtype=np.uint8) + rng.integers(0, 5, (8, 8), dtype=np.uint8)
            writer.add_normalized(encode_array(img), target=value, source=f"synthetic/{i}")
    assert main(["--store", str(tmp_path / "reg"), "--image-size", "8", "--json"]) == 0
    _, figures = rows_of(capsys)
    assert figures["metric"] == "MAE"
    assert [row["model"] for row in figures["rows"]][0] == "ridge regression"
    assert min(row["test"] for row in figures["rows"]) < 1.5  # targets span 0..11


@pytest.mark.parametrize(("args", "message"), [
    (["--store", "nope"], r"--store nope: store nope does not exist; create one with `python -m autolit\.store import"),
    (["--features", "tf_efficientnet_lit0"], r"^--features tf_efficientnet_lit0 --weights imagenet: "
                                             r"model\.layers\[0\]\.Backbone\.name: .*tf_efficientnet_lite0"),
    (["--features", TINY, "--weights", "missing.safetensors"], r"^--features .* --weights missing\.safetensors: "
                                                               r"model\.layers\[0\]\.Backbone\.weights: .*missing"),
    (["--image-size", "0"], r"--image-size 0: must be a positive number of pixels"),
])
def test_mistakes_are_one_line(tiny_store: Path, args: list[str], message: str) -> None:
    full = args if args[0] == "--store" else ["--store", str(tiny_store), *args]
    with pytest.raises(UserError, match=message):
        main(full)


def test_cli_exit_code_and_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "autolit.baseline", "--store", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --store ") and "Traceback" not in proc.stderr


def test_empty_val_split_is_a_dash_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A store with no val images: pixels of shape (0, C, S, S) flatten to (0, C*S*S)."""
    from autolit.store import SplitPolicy
    from tests.synthetic import LABELS

    rng = np.random.default_rng(0)
    with StoreWriter(tmp_path / "noval", labels=LABELS, split=SplitPolicy(val=0.0, test=0.2)) as writer:
        for i in range(60):
            img = rng.integers(0, 255, (8, 8), dtype=np.uint8)
            writer.add_normalized(encode_array(img), label=LABELS[i % 3], source=f"synthetic/{i}")
    assert main(["--store", str(tmp_path / "noval"), "--image-size", "8", "--json"]) == 0
    table, figures = rows_of(capsys)
    assert "val 0" in table.splitlines()[0]
    assert all(row["val"] is None and row["test"] is not None for row in figures["rows"])
