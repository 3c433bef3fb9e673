"""Run an exported model on CPU with ONNX Runtime or TorchScript, whichever is installed.

ONNX Runtime is an optional extra (``autolit[export]``); TorchScript needs only torch, which
autolit always has. ``auto`` prefers ONNX Runtime (lower per-call overhead on CPU) and falls back
to TorchScript when onnxruntime is missing or the export has no model.onnx.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np

from autolit.errors import UserError

RUNTIMES = ("auto", "onnx", "torchscript")
FILES = {("onnx", False): "model.onnx", ("onnx", True): "model.int8.onnx",
         ("torchscript", False): "model.pt", ("torchscript", True): "model.int8.pt"}


class Runtime(Protocol):
    """An exported model ready to run: float32 ``(B, C, H, W)`` → float32 ``(B, K)``."""

    name: str
    path: Path

    def run(self, x: np.ndarray) -> np.ndarray: ...


def has_onnxruntime() -> bool:
    """True when the optional onnxruntime package is importable."""
    return importlib.util.find_spec("onnxruntime") is not None


class OnnxRuntime:
    """An ONNX Runtime CPU session over model.onnx."""

    name = "onnx"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only: no per-session info chatter on stderr
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]


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


def load_runtime(export_dir: Path, kind: str = "auto", *, int8: bool = False,
                 threads: int | None = None) -> Runtime:
    """Open the model in ``export_dir`` with runtime ``kind`` (auto | onnx | torchscript)."""
    if kind not in RUNTIMES:
        raise UserError(f"--runtime {kind!r} is unknown; valid: {', '.join(RUNTIMES)}")
    if kind == "auto":
        kind = _pick(export_dir, int8)
    path = export_dir / FILES[(kind, int8)]
    if not path.is_file():
        hint = "--quantize int8" if int8 else f"--format {kind}"
        raise UserError(f"{path} is missing; fix: re-export with {hint} or pick another --runtime")
    if kind == "onnx":
        if not has_onnxruntime():
            raise UserError("--runtime onnx needs onnxruntime; fix: pip install 'autolit[export]' "
                            "or use --runtime torchscript")
        return OnnxRuntime(path, threads)
    if importlib.util.find_spec("torch") is None:
        raise UserError(f"--runtime torchscript needs torch to run {path.name}; fix: pip install torch, "
                        "or install onnxruntime and use model.onnx")
    return TorchScriptRuntime(path, threads)


def _pick(export_dir: Path, int8: bool) -> str:
    if has_onnxruntime() and (export_dir / FILES[("onnx", int8)]).is_file():
        return "onnx"
    if (export_dir / FILES[("torchscript", int8)]).is_file():
        return "torchscript"
    raise UserError(f"{export_dir} holds no runnable model ({FILES[('torchscript', int8)]} or, with "
                    f"onnxruntime installed, {FILES[('onnx', int8)]}); fix: run python -m autolit.export")
