"""``store extract`` writes the stored bytes back as files that import again into the same content."""

from __future__ import annotations

import hashlib

import pytest

from autolit.errors import UserError
from autolit.store import StoreReader
from autolit.store.__main__ import main
from autolit.store.importers import import_csv, import_digits, import_folder


def test_classification_round_trip(tmp_path, capsys):
    import_digits(tmp_path / "digits")
    assert main(["extract", str(tmp_path / "digits"), "--out", str(tmp_path / "out"), "--split", "test"]) == 0
    reader = StoreReader(tmp_path / "digits")
    files = sorted((tmp_path / "out").rglob("*.png"))
    assert len(files) == reader.meta.splits["test"] and f"wrote {len(files)} images" in capsys.readouterr().out
    assert {f.parent.name for f in files} <= set(reader.meta.labels)
    stored = {k.decode().rsplit("/", 1)[1] for k in reader.keys("test")}
    assert {hashlib.sha256(f.read_bytes()).hexdigest() for f in files} == stored  # the bytes as stored
    again = import_folder(tmp_path / "out", tmp_path / "again", workers=1)
    assert again.added == len(files)


def test_sample_and_regression_targets(tmp_path):
    import_digits(tmp_path / "rot", variant="rotation")
    assert main(["extract", str(tmp_path / "rot"), "--out", str(tmp_path / "out"), "--n", "7"]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 7
    report = import_csv(tmp_path / "out" / "targets.csv", tmp_path / "back", workers=1)
    assert report.added == 7 and StoreReader(tmp_path / "back").meta.task == "regression"
    with pytest.raises(UserError, match=r"--n 0: give 1 or more images"):
        main(["extract", str(tmp_path / "rot"), "--out", str(tmp_path / "x"), "--n", "0"])
