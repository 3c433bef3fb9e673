"""Load an AutoLitModule checkpoint safely and rebuild the model it holds.

A checkpoint is untrusted input: a pickle can name any global (``os.system``) and unpickling
calls it. We only ever use ``torch.load(weights_only=True)``, whose unpickler accepts tensors and
plain containers. A Lightning 2.x checkpoint written by our Trainer (``autolit.fit``) holds just
that: ``state_dict``, ``hyper_parameters`` (a plain dict of the resolved spec, label names,
preprocessing), ``callbacks`` state (scores as tensors, paths as str), ``loops``,
``optimizer_states``, epoch / step counters and version strings. Older Lightning releases
pickled ``hyper_parameters`` as ``AttributeDict`` (a ``dict`` subclass) and users' hparams may
hold ``pathlib`` paths; those few inert types are the only extra globals we allow, scoped to
one load with ``torch.serialization.safe_globals`` (never registered process-wide).
"""

from __future__ import annotations

import inspect
import pathlib
import pickle
import re
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from autolit.errors import UserError, one_line
from autolit.system import MAX_IMAGE_SIZE


def _inert_globals() -> list[Any]:
    """Types that rebuild as plain data: no code runs beyond building a dict or a path."""
    allowed: list[Any] = [pathlib.PosixPath, pathlib.PurePosixPath, pathlib.WindowsPath,
                          pathlib.PureWindowsPath]
    try:
        from lightning.fabric.utilities.data import AttributeDict
        allowed.append(AttributeDict)
    except ImportError:  # pragma: no cover - lightning is a dependency
        pass
    return allowed


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with clear UserErrors for every way it can fail."""
    path = Path(path)
    if path.is_dir():
        found = sorted(str(p) for p in path.rglob("*.ckpt"))[:3]
        raise UserError(f"checkpoint {path} is a folder, not a checkpoint file; fix: pass a .ckpt file"
                        + (f" in it, e.g. {', '.join(found)}" if found else " (it holds none)"))
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; fix: pass a .ckpt file written by "
                        "autolit.fit (runs/.../checkpoints/*.ckpt)")
    try:
        with torch.serialization.safe_globals(_inert_globals()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # noise before the refusal
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(_refusal(path, exc)) from None
    # OSError: a cut zip; the rest: a damaged legacy (non-zip) pickle trips torch's reader anywhere
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, IndexError, KeyError,
            TypeError, AttributeError, OverflowError, struct.error) as exc:
        raise UserError(f"checkpoint {path} cannot be read ({_first_line(exc)}); fix: pass an intact "
                        ".ckpt file written by autolit.fit") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise UserError(f"checkpoint {path} is not a Lightning checkpoint of an AutoLitModule (no "
                        "state_dict / hyper_parameters); fix: pass a .ckpt written by autolit.fit")
    return ckpt


def _refusal(path: Path, exc: Exception) -> str:
    names = _unsafe_globals(path)
    what = ", ".join(names) if names else _unpickler_detail(exc)
    return (f"refusing to load checkpoint {path}: it references Python objects that a weights-only "
            f"load does not allow ({what}); a checkpoint must hold only tensors and plain data. "
            "Fix: use a checkpoint written by autolit.fit, and never load files from untrusted sources")


def _unsafe_globals(path: Path) -> list[str]:
    """Names of the disallowed globals (zip checkpoints only; [] when it cannot tell)."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - legacy / broken files: the unpickler's own message is used
        return []


def _unpickler_detail(exc: Exception) -> str:
    """The weights-only unpickler's own reason (e.g. ``Unsupported global: GLOBAL posix.system``).

    torch's message around it suggests re-running with ``weights_only=False``; that is exactly
    the unsafe load we refuse, so only the reason is quoted.
    """
    boilerplate = ("Weights only load failed", "Check the documentation")
    parts = [p.split("WeightsUnpickler error:")[-1].strip() for p in re.split(r"\n\s*\n", str(exc))
             if p.strip() and not p.strip().startswith(boilerplate)]
    parts = [p for p in parts if p]
    return one_line(" ".join(parts)) if parts else "not a weights-only checkpoint"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return one_line(text[0]) if text else type(exc).__name__


def model_hparams(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The AutoLitModule arguments in ``hyper_parameters`` (LightningCLI's ``_class_path`` etc. dropped)."""
    from autolit.modules.module import AutoLitModule

    params = inspect.signature(AutoLitModule.__init__).parameters
    hparams = dict(ckpt["hyper_parameters"])
    return {k: v for k, v in hparams.items() if k in params and k != "self"}


def rebuild_model(ckpt: dict[str, Any], source: str | Path = "checkpoint") -> torch.nn.Module:
    """``AutoLitModule(**hyper_parameters)`` + strict ``load_state_dict``, in eval mode on CPU."""
    from autolit.modules.module import AutoLitModule

    hparams = model_hparams(ckpt)
    shape = hparams.get("input_shape")
    # The module allocates an example input of this shape: a tampered shape must not exhaust memory.
    if not (isinstance(shape, list) and 1 <= len(shape) <= 3 and all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_IMAGE_SIZE for d in shape)):
        raise UserError(f"{source}: hyper_parameters.input_shape {shape!r} is not a list of 1-3 sizes in "
                        f"1..{MAX_IMAGE_SIZE}; fix: export a checkpoint written by autolit.fit (this one was "
                        "edited or damaged)")
    try:
        model = AutoLitModule(**hparams)
    except UserError as exc:
        raise UserError(f"{source}: its hyper_parameters do not rebuild the model: {exc}") from None
    try:
        missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
    except RuntimeError as exc:  # strict=False still raises on a tensor of another size
        raise _mismatch(source, _first_line(exc)) from None
    # torchmetrics states are not persistent; only network weights must match exactly.
    missing = [k for k in missing if k.startswith("net.")]
    if missing or unexpected:
        raise _mismatch(source, f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()


def _mismatch(source: str | Path, detail: str) -> UserError:
    return UserError(f"{source}: state_dict does not match the rebuilt network ({detail}); fix: export a "
                     "checkpoint written by the same autolit version")
