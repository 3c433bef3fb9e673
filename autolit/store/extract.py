"""Write a store's images back out as files, ``OUT/<label>/<sha256[:16]>.<ext>`` (an image-folder
layout that ``import folder`` reads back), e.g. to look at them or to feed ``autolit.predict``.

The stored bytes are written as they are (no re-encoding), so a file's sha256 is its record's.
Regression stores go to ``OUT/<sha256[:16]>.<ext>`` with a ``targets.csv`` of ``path,target`` rows
that ``import csv`` reads back.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from autolit.errors import UserError
from autolit.store.reader import StoreReader
from autolit.store.schema import sha_of_key

_SUFFIX = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg"}


def extract(store: str | Path, out: str | Path, *, split: str | None = None, n: int | None = None,
            seed: int = 0) -> int:
    """Write ``n`` records (a seeded sample; all when None) of ``split`` (all splits when None) to ``out``."""
    if n is not None and n < 1:
        raise UserError(f"--n {n}: give 1 or more images (or leave --n out for all)")
    reader = StoreReader(store)
    keys = reader.keys(split)
    if n is not None and n < len(keys):
        keys = sorted(random.Random(seed).sample(keys, n))
    out = Path(out)
    rows: list[tuple[str, float]] = []
    try:
        for key in keys:
            data, value = reader.read(key)
            name = sha_of_key(key)[:16] + next((s for magic, s in _SUFFIX.items() if data.startswith(magic)), ".img")
            if reader.meta.task == "classification":
                path = out / _folder_name(reader.meta.labels[int(value)]) / name
            else:
                path = out / name
                rows.append((name, float(value)))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if rows:
            with (out / "targets.csv").open("w", newline="") as fh:
                csv.writer(fh).writerows([("path", "target"), *rows])
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror}); fix: pick a folder you can write to") from None
    finally:
        reader.close()
    return len(keys)


def _folder_name(label: str) -> str:
    """A label as a folder name ('/' and leading dots would change the layout)."""
    safe = label.replace("/", "_").replace("\\", "_").lstrip(".")
    return safe or "_"
