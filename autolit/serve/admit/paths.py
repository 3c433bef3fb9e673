"""Where a job may read and write: :class:`Roots`, and every path of a config checked against them.

``home`` is the service's own folder: jobs read and write there (their runs, checkpoints, logs and
the stores they build). ``data_roots`` are read-only for jobs: a config may read a store, a source
folder, a weights file or a checkpoint there, and may never name a place in one to write. A path
is judged where it really leads: relative paths start at the job's folder, ``..`` is followed,
symlinks are resolved (``os.path.realpath``: a link planted inside a root that points out lands
outside), and the config gets that absolute, resolved path back, so the job uses what was judged.
A source folder is walked too: a symlink anywhere under it must also stay inside the roots.
Refused outright: NUL bytes, ``~`` (each reader expands it, or not, its own way), URLs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from autolit.serve.admit.errors import AdmissionError

MAX_PATH = 4096
MAX_TREE = 200_000  # entries walked under one source folder
PATH_FIX = "use a path inside the service's home or a --data-root folder (relative paths start at the job's folder)"


@dataclass(frozen=True)
class Roots:
    """What a job may touch: ``home`` (read and write), ``data_roots`` (read only).

    ``allow_classes``: extra allowed class prefixes (``--allow-class PREFIX``, whole dotted parts).
    """

    home: Path
    data_roots: tuple[Path, ...]
    allow_classes: tuple[str, ...] = ()


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def inside(path: Path, root: Path) -> bool:
    """``path`` is ``root`` or below it (both already resolved)."""
    return path == root or root in path.parents


class Places:
    """The roots and the job's folder, resolved once, and the checks of one config's paths."""

    def __init__(self, roots: Roots, job_dir: Path) -> None:
        self.home = _real(roots.home)
        self.data = tuple(_real(d) for d in roots.data_roots)
        self.job_dir = _real(job_dir)
        if not inside(self.job_dir, self.home):
            raise AdmissionError("job_dir", str(job_dir), "is not inside the service's home",
                                 "make job folders under --home")

    def resolve(self, value: object, key: str) -> Path:
        """``value`` as the absolute path it really leads to (not yet judged)."""
        if not isinstance(value, str) or not value.strip():
            raise AdmissionError(key, value, "is not a path", PATH_FIX)
        if "\0" in value or len(value) > MAX_PATH:
            raise AdmissionError(key, value, "is not a usable path (NUL byte or too long)", PATH_FIX)
        if "://" in value or value.startswith("file:"):
            raise AdmissionError(key, value, "is a URL, not a path", PATH_FIX)
        if value.startswith("~"):
            raise AdmissionError(key, value, "starts with ~, which is not expanded the same way everywhere",
                                 "write the path out, relative to the job's folder or absolute")
        path = Path(value)
        return _real(path if path.is_absolute() else self.job_dir / path)

    def in_home(self, path: Path) -> bool:
        """Inside home and outside every data root."""
        return inside(path, self.home) and not any(inside(path, d) for d in self.data)

    def in_data(self, path: Path) -> bool:
        return any(inside(path, d) for d in self.data)

    def read(self, value: object, key: str) -> str:
        """A path a job reads: inside home or a data root."""
        path = self.resolve(value, key)
        if not (self.in_home(path) or self.in_data(path)):
            raise AdmissionError(key, value, f"leads to {path}, outside the service's home and data roots", PATH_FIX)
        return str(path)

    def write(self, value: object, key: str) -> str:
        """A path a job writes: inside home, never in a data root (they are read-only for jobs)."""
        path = self.resolve(value, key)
        if self.in_data(path) and not self.in_home(path):
            raise AdmissionError(key, value, f"leads to {path}, inside a data root, which jobs may only read",
                                 "write runs, checkpoints, logs and stores inside the service's home")
        if not self.in_home(path):
            raise AdmissionError(key, value, f"leads to {path}, outside the service's home",
                                 "write runs, checkpoints, logs and stores inside the service's home")
        return str(path)

    def tree(self, folder: str, key: str) -> None:
        """Every symlink under ``folder`` (already admitted) leads inside the roots."""
        todo, seen, count = [Path(folder)], {Path(folder)}, 0
        while todo:
            try:
                entries = list(os.scandir(todo.pop()))
            except OSError:
                continue  # not a folder, or unreadable: the importer says so in its own words
            for entry in entries:
                count += 1
                if count > MAX_TREE:
                    raise AdmissionError(key, folder, f"holds more than {MAX_TREE} entries to check",
                                         "import it once with python -m autolit.store and name the store")
                if entry.is_symlink():
                    target = _real(entry.path)
                    if not (self.in_home(target) or self.in_data(target)):
                        raise AdmissionError(key, folder, f"holds {entry.path}, a link to {target} outside the "
                                                          "service's home and data roots", "remove the link")
                    if target.is_dir() and target not in seen:
                        seen.add(target)
                        todo.append(target)
                elif entry.is_dir(follow_symlinks=False):
                    todo.append(Path(entry.path))


def component(value: object, key: str) -> object:
    """A logger's ``name``/``version``/``sub_dir``: one folder name (joined under its save_dir)."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or "\0" in value or value in (".", "..") or any(c in value for c in "/\\"):
        raise AdmissionError(key, value, "is not one folder name (it is joined under the logger's save_dir)",
                             "give a plain name without / or .., e.g. digits")
    return value


def template(value: object, key: str) -> object:
    """A checkpoint ``filename``: a relative name template that cannot climb out of its folder."""
    if value is None:
        return value
    parts = value.replace("\\", "/").split("/") if isinstance(value, str) else []
    if not parts or "\0" in value or value.startswith(("/", "~")) or ".." in parts:
        raise AdmissionError(key, value, "is not a file name under the checkpoint folder",
                             "give a name template without a leading / or ~ and without .., e.g. best")
    return value
