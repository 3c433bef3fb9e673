"""The files beside the model in an export folder: labels, resolved spec, metadata.

``labels.json`` (index → name), ``spec.json`` (the resolved layer spec + input shape + task: the
network can be rebuilt from it with ``autolit.modules.spec.build_network``), ``metadata.json``
(store fingerprint, checkpoint metrics, verification and quantisation results, file sizes).
``preprocessing.json`` is written by :mod:`autolit.deploy.preprocessing`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from autolit.errors import UserError, one_line

LABELS_FILE, SPEC_FILE, METADATA_FILE = "labels.json", "spec.json", "metadata.json"


def write_json(path: Path, value: Any) -> Path:
    """Pretty JSON with a trailing newline (diff-friendly)."""
    path.write_text(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")
    return path


def label_map(hparams: dict[str, Any]) -> dict[str, str]:
    """``{"0": name, ...}``; regression has none; unnamed labels are called by their index."""
    if hparams.get("task") == "regression":
        return {}
    names = list(hparams.get("label_names") or [])
    n = 2 if hparams.get("task") == "binary" else int(hparams.get("n_labels") or len(names))
    return {str(i): (names[i] if i < len(names) else str(i)) for i in range(n)}


def spec_record(hparams: dict[str, Any]) -> dict[str, Any]:
    """The resolved network description (JSON-safe)."""
    return {"task": hparams.get("task"), "input_shape": list(hparams.get("input_shape") or []),
            "n_labels": hparams.get("n_labels"), "layers": hparams.get("layers")}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_json(path: Path, what: str) -> Any:
    """The JSON in one of an export's files; a UserError naming the file if it cannot be had."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is missing; fix: point at a folder written by python -m autolit.export") from None
    except OSError as exc:  # a folder of that name, no permission, an I/O error
        raise UserError(f"{path} cannot be read ({exc.strerror or one_line(exc)}); fix: make it a readable "
                        "file or re-export") from None
    except ValueError as exc:  # bad JSON or bad UTF-8
        raise UserError(f"{path} is not a valid {what} ({one_line(exc)}); fix: re-export") from None


def read_labels(export_dir: Path) -> list[str]:
    """Label names in index order from ``labels.json`` ([] for regression)."""
    path = export_dir / LABELS_FILE
    mapping = read_json(path, "label map")
    try:
        return [str(mapping[str(i)]) for i in range(len(mapping))]
    except (KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a valid label map ({one_line(exc)}); fix: re-export") from None


def check_verified(export_dir: Path) -> None:
    """Refuse a folder whose ``metadata.json`` is missing or records a failed check.

    Export writes metadata.json last, once every file was checked against the checkpoint: a folder
    without it is an export that stopped half-way, and one that failed must not be run.
    """
    path = export_dir / METADATA_FILE
    fix = f"fix: re-export with python -m autolit.export CKPT --out {export_dir}"
    if not path.exists():
        raise UserError(f"{path} is missing, so this export was never verified (it failed or stopped "
                        f"half-way); {fix}")
    meta = read_json(path, "metadata file")
    rows = meta.get("verification") if isinstance(meta, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{path} records no verification of the exported files; {fix}")
    failed = [str(r.get("file")) for r in rows if r.get("ok") is not True]
    if failed:
        raise UserError(f"{path} records a FAILED verification of {', '.join(failed)}: this export must "
                        f"not be used; {fix}")


def check_export_dir(export_dir: Path) -> Path:
    """The export folder must exist (UserError otherwise)."""
    if not export_dir.is_dir():
        raise UserError(f"export folder {export_dir} does not exist; fix: run "
                        f"python -m autolit.export CKPT --out {export_dir} first")
    return export_dir
