"""A regression set from a CSV of ``path,target`` rows (paths relative to the CSV file)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from autolit.errors import UserError
from autolit.store.importers.base import IMPORT_BATCH, STORE_OPTIONS, WORKERS, Importer, run_jobs
from autolit.store.importers.folder import FILE_CHUNK, POOL_MIN_FILES
from autolit.store.policy import ImagePolicy
from autolit.store.pool import Job, normalize_files
from autolit.store.report import MISSING, ImportReport
from autolit.store.splits import SplitPolicy


def import_csv(csv_file: str | Path, store_path: str | Path, *, progress: bool = False,
               policy: ImagePolicy | None = None, batch_size: int = IMPORT_BATCH,
               workers: int | None = None, split_policy: SplitPolicy | None = None) -> ImportReport:
    """Import a regression set; every row is validated first, so a bad CSV imports nothing."""
    csv_file = Path(csv_file)
    if not csv_file.is_file():
        raise UserError(f"CSV file {csv_file} does not exist; pass a file of `path,target` rows")
    rows = _read_csv_rows(csv_file)
    if not rows:
        raise UserError(f"{csv_file} has no rows; expected `path,target` lines, e.g. img/001.png,3.5")
    present = [(p, t) for p, t in rows if p.is_file()]
    jobs = [Job(str(p.resolve()), target=t) for p, t in present]
    return run_jobs(store_path, str(csv_file), jobs, [str(p) for p, _ in present], normalize_files,
                    task="regression", labels=None, policy=policy, batch_size=batch_size,
                    workers=workers, pool_min=POOL_MIN_FILES, chunk=FILE_CHUNK, split=split_policy,
                    progress=progress, extra_skips=[(str(p), MISSING) for p, _ in rows if not p.is_file()])


def _read_csv_rows(csv_file: Path) -> list[tuple[Path, float]]:
    """Parse and validate every row; a binary file or an overlong field is refused naming the line."""
    raw = csv_file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserError(f"{csv_file}:{line}: not UTF-8 text; pass a CSV of `path,target` rows") from None
    rows: list[tuple[Path, float]] = []
    line = 0
    try:
        for line, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            _parse_row(csv_file, line, [c.strip() for c in row], rows)
    except csv.Error as exc:
        raise UserError(f"{csv_file}:{line + 1}: {exc}; write one `path,target` row per line") from None
    return rows


def _parse_row(csv_file: Path, line: int, cells: list[str], rows: list[tuple[Path, float]]) -> None:
    if not any(cells) or cells[0].startswith("#"):
        return
    if len(cells) < 2 or not cells[1]:
        raise UserError(f"{csv_file}:{line}: row {','.join(cells)!r} has no target; every row needs "
                        "`path,target`, e.g. images/001.png,3.5")
    try:
        target = float(cells[1])
    except ValueError:
        if line == 1 and not rows:
            return  # a header row such as `path,target`
        raise UserError(f"{csv_file}:{line}: target {cells[1]!r} is not a number; write e.g. 3.5") from None
    if not math.isfinite(target):
        raise UserError(f"{csv_file}:{line}: target {cells[1]!r} is not finite; use a real number")
    rows.append((csv_file.parent / cells[0], target))


IMPORTER = Importer(
    name="csv", help="a regression set from a CSV of path,target rows", run=import_csv,
    arg="FILE", arg_help="CSV of path,target rows", options=(*STORE_OPTIONS, WORKERS),
)
