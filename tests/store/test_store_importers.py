"""Importers (digits, IDX, folder, CSV) and the CLI's one-line errors."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess

import numpy as np
import pytest

from autolit.errors import UserError
from autolit.store import StoreReader
from autolit.store.importers import idx, import_csv, import_digits, import_folder, import_idx
from autolit.store.splits import SplitPolicy
from tests.errors import says
from tests.store.helpers import make_class_folder, png_bytes, subprocess_env


def _write_idx(folder, part, n, seed=0, gz=True):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 6, 6), dtype=np.uint8)
    labels = rng.integers(0, 3, n, dtype=np.uint8)
    files = {f"{part}-images-idx3-ubyte": struct.pack(">IIII", 0x803, n, 6, 6) + images.tobytes(),
             f"{part}-labels-idx1-ubyte": struct.pack(">II", 0x801, n) + labels.tobytes()}
    for name, data in files.items():
        (folder / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)


def test_digits_variants(tmp_path):
    rep = import_digits(tmp_path / "d")
    meta = StoreReader(tmp_path / "d").meta
    assert rep.added == meta.count == 1797 and meta.labels == [str(i) for i in range(10)]
    assert import_digits(tmp_path / "d").added == 0
    assert StoreReader(tmp_path / "d").meta.fingerprint == meta.fingerprint
    import_digits(tmp_path / "p", variant="parity")
    assert StoreReader(tmp_path / "p").meta.labels == ["even", "odd"]
    import_digits(tmp_path / "r", variant="rotation")
    rot = StoreReader(tmp_path / "r")
    targets = [rot.read(k)[1] for k in rot.keys("val")]
    assert rot.meta.task == "regression" and all(-45 <= t <= 45 for t in targets)
    assert rot.record(rot.keys()[0])["width"] == 32
    with pytest.raises(UserError, match="digits variant 'odd' is unknown"):
        import_digits(tmp_path / "x", variant="odd")


def test_idx_pins_t10k_to_test_and_is_idempotent(tmp_path):
    src = tmp_path / "mnist"
    src.mkdir()
    _write_idx(src, "train", 40, seed=1)
    _write_idx(src, "t10k", 10, seed=2, gz=False)
    rep = import_idx(src, tmp_path / "s", workers=1)
    meta = StoreReader(tmp_path / "s").meta
    assert rep.added == meta.count == 50 and meta.splits["test"] == 10
    assert import_idx(src, tmp_path / "s", workers=1).added == 0


def test_idx_memory_guard_counts_every_file_and_copy(tmp_path, monkeypatch):
    src = tmp_path / "mnist"
    src.mkdir()
    _write_idx(src, "train", 100, seed=1)  # 3600 bytes of pixels per file
    _write_idx(src, "t10k", 100, seed=2)
    monkeypatch.setattr(idx, "memory_bytes", lambda: 30_000)  # each file x3 fits in half; both x3 do not
    with says(UserError, 'mnist: its IDX files hold',
              'importing them holds 3 copies, more than half',
              'import the train and t10k files one'):
        import_idx(src, tmp_path / "s", workers=1)  # was: imported, holding ~3x what the guard checked
    assert not (tmp_path / "s").exists()


def test_idx_bad_magic_names_the_file(tmp_path):
    src = tmp_path / "mnist"
    src.mkdir()
    _write_idx(src, "train", 5)
    (src / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 8))
    with pytest.raises(UserError, match=r"train-labels-idx1-ubyte.gz is not an IDX labels file \(magic 0x00000803"):
        import_idx(src, tmp_path / "s")
    with pytest.raises(UserError, match=r"holds no IDX files"):
        import_idx(tmp_path, tmp_path / "s2")
    assert not (tmp_path / "s").exists()  # nothing created on bad input


def test_folder_counts_skips_by_reason(tmp_path):
    root = make_class_folder(tmp_path / "imgs", per_class=4)
    (root / "a" / "notes.txt").write_text("hello")
    (root / "a" / "cut.png").write_bytes(png_bytes(99, (32, 32))[:70])
    (root / "b" / "anim.gif").write_bytes(_gif())
    (root / "b" / "copy.png").write_bytes((root / "a" / "0000.png").read_bytes())
    (root / "loose.png").write_bytes(png_bytes(77))
    (root / ".hidden").mkdir()
    rep = import_folder(root, tmp_path / "s", workers=1)
    assert rep.added == 8
    assert rep.skipped_by_reason() == {"duplicate": 1, "format_not_allowed": 1, "no_label": 1,
                                       "not_image": 1, "truncated": 1}
    assert {r for _, r, _ in rep.skipped} == set(rep.skipped_by_reason())
    assert StoreReader(tmp_path / "s").meta.labels == ["a", "b"]
    again = import_folder(root, tmp_path / "s", workers=1)
    assert again.added == 0 and again.fingerprint == rep.fingerprint
    assert "skipped: format_not_allowed" in rep.table()


def test_folder_pool_equals_inline(tmp_path):
    root = make_class_folder(tmp_path / "imgs", per_class=40)
    inline = import_folder(root, tmp_path / "one", workers=1)
    pooled = import_folder(root, tmp_path / "two", workers=2)
    assert (inline.count, inline.fingerprint) == (pooled.count, pooled.fingerprint)


def test_folder_pinned_to_test_with_a_train_val_store(tmp_path):
    """A data set's own val/ folder becomes the store's test split, exactly (as IDX pins t10k)."""
    train = make_class_folder(tmp_path / "train", per_class=30)
    held = make_class_folder(tmp_path / "held", per_class=6, seed=500)
    store = tmp_path / "s"
    import_folder(train, store, workers=1, split_policy=SplitPolicy(val=0.2, test=0.0))
    rep = import_folder(held, store, workers=1, split="test")
    splits = StoreReader(store).meta.splits
    assert rep.added == 12 and splits["test"] == 12  # every held-out image, and nothing else
    assert splits["train"] + splits["val"] == 60 and splits["val"] > 0
    with pytest.raises(UserError, match=r"split 'holdout' is not one of train, val, test"):
        import_folder(held, store, split="holdout")


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"empty contains no files"):
        import_folder(tmp_path / "empty", tmp_path / "s")
    with pytest.raises(UserError, match=r"image folder .*missing does not exist"):
        import_folder(tmp_path / "missing", tmp_path / "s")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.png").write_bytes(png_bytes(1))
    with pytest.raises(UserError, match=r"flat has no class subfolders"):
        import_folder(tmp_path / "flat", tmp_path / "s")


def test_csv_regression_and_errors(tmp_path):
    (tmp_path / "img").mkdir()
    for i in range(3):
        (tmp_path / "img" / f"{i}.png").write_bytes(png_bytes(i))
    good = tmp_path / "t.csv"
    good.write_text("path,target\nimg/0.png,0.5\nimg/1.png,-2\nimg/2.png,3e1\nimg/gone.png,1\n")
    rep = import_csv(good, tmp_path / "s")
    reader = StoreReader(tmp_path / "s")
    assert rep.added == 3 and rep.skipped_by_reason() == {"missing": 1}
    assert sorted(reader.read(k)[1] for k in reader.keys()) == [-2.0, 0.5, 30.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("img/0.png,1\nimg/1.png\n")
    with pytest.raises(UserError, match=r"bad.csv:2: row 'img/1.png' has no target"):
        import_csv(bad, tmp_path / "s2")
    bad.write_text("img/0.png,1\nimg/1.png,abc\n")
    with pytest.raises(UserError, match=r"bad.csv:2: target 'abc' is not a number"):
        import_csv(bad, tmp_path / "s2")


def _gif() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("P", (4, 4)).save(buf, format="GIF")
    return buf.getvalue()


def _cli(python, *args):
    return subprocess.run([python, "-m", "autolit.store", *args], capture_output=True, text=True,
                          env=subprocess_env(), timeout=120)


def test_cli_errors_are_one_line_exit_2(tmp_path, python):
    proc = _cli(python, "info", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: store {tmp_path / 'nope'} does not exist; create one with "
        "`python -m autolit.store import digits|idx|folder|csv ... --store PATH`"
    ]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train-images-idx3-ubyte").write_bytes(b"GIF89a....")
    (tmp_path / "bad" / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    proc = _cli(python, "import", "idx", str(tmp_path / "bad"), "--store", str(tmp_path / "s"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "train-images-idx3-ubyte is not an IDX images file" in proc.stderr


def test_cli_max_side_zero_is_refused_not_defaulted(tmp_path, image_folder):
    from autolit.store.__main__ import main

    with pytest.raises(UserError, match=r"^--max-side: 0 is out of range; use a value at least 1$"):
        main(["import", "folder", str(image_folder), "--store", str(tmp_path / "s"), "--max-side", "0"])
    assert not (tmp_path / "s").exists()


def test_cli_import_info_show(tmp_path, python, image_folder):
    store = str(tmp_path / "s")
    proc = _cli(python, "import", "folder", str(image_folder), "--store", store, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"] == 10
    info = json.loads(_cli(python, "info", store, "--json").stdout)
    assert info["count"] == 10 and info["labels"] == ["a", "b"] and info["schema_version"] == 1
    assert _cli(python, "show", store, "--out", str(tmp_path / "g.png")).returncode == 0
    assert (tmp_path / "g.png").stat().st_size > 0
