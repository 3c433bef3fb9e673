"""Write the rebuilt network as TorchScript (model.pt) and ONNX (model.onnx), optionally int8.

Both files take the normalised float32 input ``(B, C, H, W)`` with a dynamic batch dimension and
return what ``AutoLitModule.predict_step`` returns: probabilities ``(B, K)`` for multiclass,
``P(label 1)`` as ``(B, 1)`` for binary, the value ``(B, 1)`` for regression. Putting the
softmax / sigmoid in the graph means every runtime yields the same numbers without extra code.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from autolit.modules.tasks import Task

TORCHSCRIPT_FILE = "model.pt"
ONNX_FILE = "model.onnx"
INPUT_NAME, OUTPUT_NAME = "input", "output"
OPSET = 17


class Predictor(nn.Module):
    """The trained network followed by the task's output transform (:meth:`Task.outputs`)."""

    def __init__(self, net: nn.Module, task: Task) -> None:
        super().__init__()
        self.net = net
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, head)
        return self.task.outputs(self.net(x))


def predictor(model: nn.Module) -> Predictor:
    """Wrap an ``AutoLitModule`` (eval mode, CPU) for export."""
    return Predictor(model.net, model.task_def).eval()


def export_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Trace ``model`` on ``example`` and save it. Tracing suits our specs: no data-dependent control flow."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is "deprecated" but still the portable format
        traced = torch.jit.trace(model, example, check_trace=False)
        traced.save(str(path))
    return path


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Export with the TorchScript-based exporter (the dynamo one needs onnxscript, not a dependency)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    return path


def quantize_torch(model: nn.Module) -> nn.Module:
    """int8 dynamic quantisation of Linear layers (weights int8, activations quantised on the fly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def quantize_onnx(src: Path, dst: Path) -> Path:
    """onnxruntime's dynamic int8 quantisation of the MatMul/Gemm weights (Linear, as for TorchScript).

    Conv stays float: ConvInteger with int8 weights has no CPU kernel in onnxruntime.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # silence the "consider pre-processing" hint it logs on root
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        root.setLevel(level)
    return dst
