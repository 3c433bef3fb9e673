"""Fixtures for export/predict tests: one tiny digits model trained once per session, exported once.

Training uses ``autolit.training.run_fit`` on the real digits store (1,797 8x8 images, built in a few
seconds) with a small MLP for a few epochs: ~95% test accuracy; CPU training is kept short because the
tests share 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DIGITS_CONFIG = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 5, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 10,
                "enable_model_summary": False},
    "model": {"task": "multiclass", "layers": [
        {"Flatten": {}}, {"Linear": {"out_features": 64}}, {"ReLU": {}},
        {"Linear": {"out_features": "n_labels"}}]},
    "data": {"source": "digits", "batch_size": 64},
    "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}},
}


@pytest.fixture(scope="session")
def digits_fit(tmp_path_factory: pytest.TempPathFactory):
    """(FitResult, store path) of the tiny digits model."""
    from autolit.training import run_fit

    root = tmp_path_factory.mktemp("digits")
    config = {**DIGITS_CONFIG, "data": {**DIGITS_CONFIG["data"], "store": str(root / "store")}}
    result = run_fit(config, run_dir=root / "run", progress=False)
    assert result.best_checkpoint is not None
    return result, root / "store"


@pytest.fixture(scope="session")
def digits_ckpt(digits_fit) -> Path:
    return digits_fit[0].best_checkpoint


@pytest.fixture(scope="session")
def digits_export(digits_ckpt: Path, tmp_path_factory: pytest.TempPathFactory):
    """The ExportReport of exporting the digits checkpoint to TorchScript + ONNX (+ int8)."""
    from autolit.deploy import export_checkpoint

    return export_checkpoint(digits_ckpt, tmp_path_factory.mktemp("export") / "digits", quantize="int8")


@pytest.fixture(scope="session")
def digit_pngs(digits_fit, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], np.ndarray]:
    """The store's test-split digits re-drawn from scikit-learn's arrays as 32x32 PNG files.

    Not read from the store: each record's source names its scikit-learn index; the 8x8 array is
    upscaled 4x (nearest) and saved, so predict must decode, resize back to 8x8 and normalise.
    Every third image is saved as RGB to exercise the channel conversion.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    from autolit.store import StoreReader

    digits = load_digits()
    reader = StoreReader(digits_fit[1])
    indices = [int(reader.record(k)["source"].rsplit("#", 1)[1]) for k in reader.keys("test")]
    reader.close()
    folder = tmp_path_factory.mktemp("pngs")
    paths = []
    for n, index in enumerate(indices):
        pixels = np.rint(digits.images[index] * (255.0 / 16.0)).astype(np.uint8)
        img = Image.fromarray(pixels).resize((32, 32), Image.NEAREST)
        path = folder / f"{n:03d}_idx{index}.png"
        (img.convert("RGB") if n % 3 == 0 else img).save(path)
        paths.append(path)
    return paths, digits.target[indices]
