"""Image folders: ``folder/<label>/<image>`` (labels are the sorted subfolder names)."""

from __future__ import annotations

from pathlib import Path

from autolit.errors import UserError
from autolit.store.importers.base import (
    IMPORT_BATCH, STORE_OPTIONS, WORKERS, Importer, Option, existing_dir, run_jobs,
)
from autolit.store.policy import ImagePolicy
from autolit.store.pool import Job, iter_sorted_files, normalize_files
from autolit.store.report import NO_LABEL, ImportReport
from autolit.store.splits import SPLITS, SplitPolicy

FILE_CHUNK, POOL_MIN_FILES = 16, 64  # below POOL_MIN_FILES a pool costs more than it saves


def import_folder(folder: str | Path, store_path: str | Path, *, progress: bool = False,
                  policy: ImagePolicy | None = None, batch_size: int = IMPORT_BATCH,
                  workers: int | None = None, split: str | None = None,
                  split_policy: SplitPolicy | None = None) -> ImportReport:
    """Import ``folder/<label>/<image>``.

    ``split`` pins every image of the folder to one split (e.g. a data set's own ``val/`` folder
    as the test split, the way IDX pins t10k); ``None`` splits by content hash with the store's
    policy. ``split_policy`` sets that policy when this import creates the store.
    """
    if split is not None and split not in SPLITS:
        raise UserError(f"split {split!r} is not one of {', '.join(SPLITS)}; pin the folder to one of them "
                        "or leave split out to split by content hash")
    folder = existing_dir(folder, "image folder")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = list(iter_sorted_files(folder))
    if not files:
        raise UserError(f"{folder} contains no files; expected {folder}/<label>/<image files>")
    if not classes:
        raise UserError(
            f"{folder} has no class subfolders; put images in {folder}/<label>/ (one folder per label)"
        )
    unlabelled = [f for f in files if len(f.relative_to(folder).parts) < 2]
    labelled = [f for f in files if len(f.relative_to(folder).parts) >= 2]
    jobs = [Job(str(f.resolve()), label=f.relative_to(folder).parts[0], split=split) for f in labelled]
    return run_jobs(store_path, str(folder), jobs, [str(f) for f in labelled], normalize_files,
                    task="classification", labels=classes, policy=policy, batch_size=batch_size,
                    workers=workers, pool_min=POOL_MIN_FILES, chunk=FILE_CHUNK, split=split_policy,
                    progress=progress, extra_skips=[(str(f), NO_LABEL) for f in unlabelled])


IMPORTER = Importer(
    name="folder", help="a folder with one subfolder per label", run=import_folder,
    arg="DIR", arg_help="folder with one subfolder per label",
    options=(Option("split", str, "pin every image to this split (default: split by content hash)",
                    choices=SPLITS), *STORE_OPTIONS, WORKERS),
    example="{folder: DIR, split: test}",
)
