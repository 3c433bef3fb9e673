"""What an export format is: a file, an exporter, an int8 quantiser and a runtime that opens it."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from autolit.errors import UserError

if TYPE_CHECKING:
    import torch

INPUT_NAME, OUTPUT_NAME = "input", "output"


class Runtime(Protocol):
    """An exported model ready to run: float32 ``(B, C, H, W)`` → float32 ``(B, head)``."""

    name: str
    path: Path

    def run(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Format:
    """One export format.

    ``export(predictor, example, path)`` writes the float model; ``quantize(predictor, float_path,
    example, path)`` writes its int8 twin; ``open(path, threads)`` returns a :class:`Runtime`.
    ``needs`` names the packages each step imports (checked up front with a clear error).
    """

    name: str
    file: str
    int8_file: str
    export: Callable[[torch.nn.Module, torch.Tensor, Path], Path]
    quantize: Callable[[torch.nn.Module, Path, torch.Tensor, Path], Path]
    open: Callable[[Path, int | None], Runtime]
    needs: tuple[str, ...] = ()

    def filename(self, int8: bool = False) -> str:
        return self.int8_file if int8 else self.file

    def missing(self) -> list[str]:
        """The packages of :attr:`needs` that are not installed."""
        return [m for m in self.needs if importlib.util.find_spec(m) is None]

    def check_installed(self, flag: str) -> None:
        """UserError naming what to install when a package this format needs is missing."""
        missing = self.missing()
        if missing:
            raise UserError(f"{flag} {self.name} needs {', '.join(missing)}, which is not installed; "
                            f"fix: pip install {' '.join(missing)} (autolit's own dependencies)")
