"""``python -m autolit.store verify PATH``: every record's hash and decode checked, the bad ones listed.

A record is bad when its header cannot be read or is out of range, when the sha256 of its image
bytes differs from its header and key, when its key's split differs from its header's, or when the
bytes do not decode fully to an image of the header's size and channels. The meta's counts must
match the records found.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from autolit.errors import one_line
from autolit.store import schema
from autolit.store.damage import StoreDamaged
from autolit.store.reader import StoreReader
from autolit.store.splits import SPLITS

STORED_FORMATS = ("PNG", "JPEG")  # what the image policy writes
_CHANNELS = {"L": 1, "RGB": 3}


@dataclass
class VerifyResult:
    """Records checked and the bad ones as (key, problem)."""

    store: str
    records: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.bad

    def to_dict(self) -> dict:
        """What ``--json`` prints."""
        return {"store": self.store, "records": self.records, "ok": self.ok,
                "bad": [{"key": k, "problem": p} for k, p in self.bad], "seconds": round(self.seconds, 3)}

    def table(self, limit: int = 50) -> str:
        """One summary line, then the bad keys (at most ``limit``) and the fix."""
        lines = [f"verify {self.store}: {self.records} records, {len(self.bad)} bad ({self.seconds:.1f} s)"]
        lines += [f"  {key}  {problem}" for key, problem in self.bad[:limit]]
        if len(self.bad) > limit:
            lines.append(f"  ... and {len(self.bad) - limit} more (--json lists all)")
        if self.bad:
            lines.append("fix: rebuild the store from its source (delete it and import again)")
        return "\n".join(lines)


def verify_store(path: str | Path) -> VerifyResult:
    """Check every record of the store at ``path`` (a store that cannot be opened raises StoreDamaged)."""
    t0 = time.perf_counter()
    reader = StoreReader(path)
    result = VerifyResult(str(reader.path))
    counts = {split: 0 for split in SPLITS}
    for split in SPLITS:
        for key in reader.keys(split):
            result.records += 1
            counts[split] += 1
            problem = check_record(reader, key, split)
            if problem:
                result.bad.append((key.decode("ascii", "replace"), problem))
    if counts != reader.meta.splits or result.records != reader.meta.count:
        result.bad.append(("meta", f"says {reader.meta.count} records {reader.meta.splits}, "
                                   f"found {result.records} {counts}"))
    reader.close()
    result.seconds = time.perf_counter() - t0
    return result


def check_record(reader: StoreReader, key: bytes, split: str) -> str | None:
    """What is wrong with one record, or None."""
    try:
        header, data = reader.read_record(key)
    except StoreDamaged as exc:
        return exc.detail
    sha = hashlib.sha256(data).hexdigest()
    if sha != header["sha256"] or sha != schema.sha_of_key(key):
        return f"sha256 of the image bytes is {sha[:16]}..., the record says {str(header['sha256'])[:16]}..."
    if header["split"] != split:
        return f"header split {header['split']!r} differs from the key's {split!r}"
    return check_image(data, header)


def check_image(data: bytes, header: dict) -> str | None:
    """Decode every pixel; the image must be what the header says."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.format not in STORED_FORMATS:
                    return f"stored as {im.format}, not PNG or JPEG"
                if im.size != (header["width"], header["height"]):
                    return f"image is {im.size[0]}x{im.size[1]}, header says {header['width']}x{header['height']}"
                im.load()
                if _CHANNELS.get(im.mode) != header["channels"]:
                    return f"image mode {im.mode}, header says {header['channels']} channels"
    except Exception as exc:  # noqa: BLE001 - every decoder failure is a bad record here
        return f"does not decode: {one_line(exc)}"
    return None
