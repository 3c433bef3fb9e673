"""The export-format registry: one :class:`Format` per file format, each defined in its own module.

Adding a format is one entry here plus its module: what file it writes, how to export the
predictor into it, how to quantise it to int8, and how predict opens it. Export, verification,
quantisation, clean-up of an earlier export and predict's runtime choice all read this registry.
"""

from __future__ import annotations

from autolit.deploy.formats.base import Format, Runtime
from autolit.deploy.formats.onnx import ONNX
from autolit.deploy.formats.torchscript import TORCHSCRIPT

EXPORTERS: dict[str, Format] = {fmt.name: fmt for fmt in (TORCHSCRIPT, ONNX)}
#: what ``autolit.export`` and ``search best --export`` write unless told otherwise
DEFAULT_FORMATS: tuple[str, ...] = ("torchscript", "onnx")
#: which format predict's ``--runtime auto`` opens first when several were exported
RUNTIME_PREFERENCE: tuple[str, ...] = ("onnx", "torchscript")  # onnxruntime: less per-call overhead on CPU

__all__ = ["DEFAULT_FORMATS", "EXPORTERS", "RUNTIME_PREFERENCE", "Format", "Runtime", "exported_files"]


def exported_files() -> list[str]:
    """Every model file name any format writes (float and int8)."""
    return [name for fmt in EXPORTERS.values() for name in (fmt.file, fmt.int8_file)]
