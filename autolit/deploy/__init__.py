"""The export-and-predict library: checkpoint → verified export folder → predictions.

    from autolit.deploy import export_checkpoint, ExportedModel
    report = export_checkpoint("runs/digits/version_0/checkpoints/best.ckpt", "exports/digits")
    model = ExportedModel("exports/digits")

Files: ``checkpoint.py`` (the exported :class:`Predictor`, the checkpoint's own metrics; the
weights-only load and rebuild are :mod:`autolit.modules.checkpoint`), ``formats/`` (the
export-format registry, one file per format), ``export.py`` (the pipeline), ``verify.py``
(agreement with the checkpoint, test-split scores), ``quantize.py`` (int8), ``runtime.py`` (open a
format for predict), ``model.py`` (:class:`ExportedModel`), ``preprocessing.py`` / ``bundle.py``
(the files beside the model), ``inputs.py`` (files, folders, URLs). The entry points
:mod:`autolit.export` and :mod:`autolit.predict` only parse and print.
"""

from __future__ import annotations

from autolit import lazy_exports

_EXPORTS = {
    "export_checkpoint": "export", "ExportReport": "export", "check_formats": "export",
    "ExportedModel": "model", "Prediction": "model", "predict_paths": "model",
    "EXPORTERS": "formats", "DEFAULT_FORMATS": "formats",
}
__all__ = sorted(_EXPORTS)

# Loaded on first use: predict on ONNX Runtime must not import torch through export.py.
__getattr__ = lazy_exports(__name__, _EXPORTS)
