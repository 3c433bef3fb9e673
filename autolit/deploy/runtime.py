"""Open an exported model for prediction with the runtime of its format (registry: ``formats``).

``auto`` takes the first format of :data:`~autolit.deploy.formats.RUNTIME_PREFERENCE` whose file
the export holds and whose packages are installed (ONNX Runtime, then TorchScript).
"""

from __future__ import annotations

from pathlib import Path

from autolit.deploy.formats import EXPORTERS, RUNTIME_PREFERENCE, Format, Runtime
from autolit.errors import UserError, one_line

RUNTIMES = ("auto", *EXPORTERS)


def load_runtime(export_dir: Path, kind: str = "auto", *, int8: bool = False,
                 threads: int | None = None) -> Runtime:
    """Open the model in ``export_dir`` with runtime ``kind`` (``auto`` or a format name)."""
    if kind not in RUNTIMES:
        raise UserError(f"--runtime {kind!r} is unknown; valid: {', '.join(RUNTIMES)}")
    fmt = _pick(export_dir, int8) if kind == "auto" else EXPORTERS[kind]
    path = export_dir / fmt.filename(int8)
    if not path.is_file():
        hint = "--quantize int8" if int8 else f"--format {fmt.name}"
        raise UserError(f"{path} is missing; fix: re-export with {hint} or pick another --runtime")
    fmt.check_installed("--runtime")
    try:
        return fmt.open(path, threads)
    except Exception as exc:  # noqa: BLE001 - a truncated or tampered file fails in each runtime's own way
        raise UserError(f"{path} cannot be opened by {fmt.name} ({one_line(exc)}); fix: re-export it with "
                        "python -m autolit.export") from None


def _pick(export_dir: Path, int8: bool) -> Format:
    for name in RUNTIME_PREFERENCE:
        fmt = EXPORTERS[name]
        if (export_dir / fmt.filename(int8)).is_file() and not fmt.missing():
            return fmt
    files = " or ".join(EXPORTERS[name].filename(int8) for name in RUNTIME_PREFERENCE)
    raise UserError(f"{export_dir} holds no runnable model ({files}); fix: run python -m autolit.export")
