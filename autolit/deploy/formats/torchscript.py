"""TorchScript (``model.pt``): the predictor traced; int8 = dynamic quantisation of Linear layers.

Tracing suits spec-built networks (no data-dependent control flow). torch is imported inside the
functions so that predict on ONNX Runtime never loads it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from autolit.deploy.formats.base import Format


def export(model, example, path: Path) -> Path:
    """Trace ``model`` on ``example`` and save it."""
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is "deprecated" but still the portable format
        torch.jit.trace(model, example, check_trace=False).save(str(path))
    return path


def quantize(model, float_path: Path, example, path: Path) -> Path:
    """int8 dynamic quantisation of Linear layers (weights int8, activations quantised on the fly)."""
    import torch
    from torch import nn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        quantized = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    return export(quantized, example, path)


class TorchScriptRuntime:
    """A TorchScript module over model.pt (CPU, inference mode)."""

    name = "torchscript"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.path = path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit "deprecated" notice
            self.module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


TORCHSCRIPT = Format("torchscript", "model.pt", "model.int8.pt", export, quantize, TorchScriptRuntime,
                     needs=("torch",))
