"""ONNX (``model.onnx``), run by ONNX Runtime on CPU; int8 = onnxruntime's dynamic quantisation.

Exported with the TorchScript-based exporter (the dynamo one needs onnxscript, not a dependency)
with a dynamic batch dimension. int8 quantises the MatMul/Gemm weights (the Linear layers, as for
TorchScript); Conv stays float because ConvInteger with int8 weights has no CPU kernel there.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from autolit.deploy.formats.base import INPUT_NAME, OUTPUT_NAME, Format

OPSET = 17


def export(model, example, path: Path) -> Path:
    """Export ``model`` with input ``(B, C, H, W)`` and output ``(B, head)``, batch dynamic."""
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    return path


def quantize(model, float_path: Path, example, path: Path) -> Path:
    """onnxruntime's dynamic int8 quantisation of the exported float file's MatMul/Gemm weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # silence the "consider pre-processing" hint it logs on root
    try:
        quantize_dynamic(str(float_path), str(path), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        root.setLevel(level)
    return path


class OnnxRuntime:
    """An ONNX Runtime CPU session over model.onnx."""

    name = "onnx"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Idle pool threads sleep instead of spinning between runs: a spinning thread holds a core
        # that PyTorch's threads (export runs both in one process) or a neighbour wants next.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: no per-session info chatter on stderr
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]


ONNX = Format("onnx", "model.onnx", "model.int8.onnx", export, quantize, OnnxRuntime,
              needs=("onnx", "onnxruntime"))
