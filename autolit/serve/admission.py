"""Config admission: whether a fit or search config that came over HTTP may run.

A job config from HTTP is untrusted: LightningCLI (jsonargparse) imports and instantiates any
``class_path`` it is given, reads a string at a class place as a config file, and writes wherever a
path key points. :func:`admit_fit` and :func:`admit_search` accept only allowlisted classes (by the
class a name resolves to, not its spelling) and only paths inside the service's roots, and return
the config to run, with every relative path made absolute against the job's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autolit.errors import UserError


class AdmissionError(UserError):
    """A config refused: one line naming the key path, the value, why, and the fix."""

    def __init__(self, key: str, value: object, why: str, fix: str) -> None:
        self.key, self.value = key, value
        super().__init__(f"{key}: {value!r} {why}; fix: {fix}")


@dataclass(frozen=True)
class Roots:
    """What a job may touch: ``home`` (read and write) and ``data_roots`` (read only).

    ``allow_classes``: extra allowed class prefixes (``--allow-class PREFIX``), whole dotted parts.
    """

    home: Path
    data_roots: tuple[Path, ...]
    allow_classes: tuple[str, ...] = ()


def admit_fit(config: dict, roots: Roots, *, job_dir: Path) -> dict:
    """Check classes and paths anywhere in a fit config; return the config to run or raise."""
    raise NotImplementedError("admission is being written on branch admission")


def admit_search(config: dict, roots: Roots, *, job_dir: Path, fit_config: dict) -> dict:
    """Check a search config (overrides, space choices) and the fit config it names; return it."""
    raise NotImplementedError("admission is being written on branch admission")


def parse_yaml_text(text: str, *, max_bytes: int, what: str) -> dict:
    """``yaml.safe_load`` one mapping document with size, node and alias caps; one-line errors."""
    raise NotImplementedError("admission is being written on branch admission")


def scrub(text: str) -> str:
    """``text`` without the server's SerpApi key (``SERPAPI_API_KEY``) or credential parameters."""
    raise NotImplementedError("admission is being written on branch admission")
