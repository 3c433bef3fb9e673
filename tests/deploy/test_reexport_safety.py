"""A re-export that fails leaves the previous export as it was; predict runs only verified folders.

Export builds in a temporary folder beside ``--out`` and moves the files in once every check
passed; whatever stops it (a bad ``--store``, a store of another task or label set, an exporter
that crashes) leaves ``--out`` byte for byte as it was and no temporary folder behind.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from autolit.deploy import ExportedModel, export_checkpoint
from autolit.deploy.formats import EXPORTERS
from autolit.errors import UserError
from autolit.store import StoreWriter, encode_array
from tests.errors import says
from tests.synthetic import write_store


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def good_export(digits_export, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """(a copy of a verified export, its files' bytes) alone in its parent folder."""
    out = tmp_path / "exports" / "digits"
    shutil.copytree(digits_export.out_dir, out)
    return out, _contents(out)


def _untouched(out: Path, before: dict[str, bytes]) -> None:
    assert _contents(out) == before
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no .exporting-* folder left
    ExportedModel(out)  # still opens for predict


def test_bad_store_leaves_the_previous_export(good_export, digits_ckpt, tmp_path):
    out, before = good_export
    with pytest.raises(UserError, match=r"--store .*nope: store .*nope does not exist"):
        export_checkpoint(digits_ckpt, out, formats=["torchscript"], store=tmp_path / "nope")
    (tmp_path / "not-a-store").mkdir()
    with pytest.raises(UserError, match=r"--store .*not-a-store: .*is not an autolit store"):
        export_checkpoint(digits_ckpt, out, formats=["torchscript"], store=tmp_path / "not-a-store")
    _untouched(out, before)


def test_exporter_crash_leaves_the_previous_export(good_export, digits_ckpt, monkeypatch):
    def crash(model, example, path):
        path.write_bytes(b"half a model")
        raise RuntimeError("exporter bug")

    monkeypatch.setitem(EXPORTERS, "onnx", dataclasses.replace(EXPORTERS["onnx"], export=crash))
    out, before = good_export
    with pytest.raises(RuntimeError, match="exporter bug"):
        export_checkpoint(digits_ckpt, out, formats=["torchscript", "onnx"])
    _untouched(out, before)


def test_store_of_other_labels_or_task_is_refused_before_writing(digits_ckpt, tmp_path):
    """A 3-label store for a 10-digit model would score silently wrong; a regression store crashes."""
    shapes = write_store(tmp_path / "shapes", n=30)
    out = tmp_path / "out"
    with says(UserError, '--store',
              "has the labels ['bar', 'dot', 'ring'] but the checkpoint was trained on ['0', '1',",
              'fix: pass --store with the store the model'):
        export_checkpoint(digits_ckpt, out, formats=["torchscript"], store=shapes)
    with StoreWriter(tmp_path / "reg", task="regression") as writer:
        for i in range(10):
            writer.add_normalized(encode_array(np.full((8, 8), i * 20, np.uint8)), target=float(i), source=f"s/{i}")
    with says(UserError, '--store',
              "holds a regression data set but the checkpoint's task is 'multiclass'",
              'fix: pass --store'):
        export_checkpoint(digits_ckpt, out, formats=["torchscript"], store=tmp_path / "reg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg", "shapes"]  # nothing written for --out


def test_predict_refuses_an_unverified_or_failed_folder(good_export):
    out, _ = good_export
    meta = json.loads((out / "metadata.json").read_text())
    meta["verification"][1]["ok"] = False
    (out / "metadata.json").write_text(json.dumps(meta))
    failed_file = meta["verification"][1]["file"]
    with pytest.raises(UserError, match=rf"metadata\.json records a FAILED verification of {failed_file}: this "
                                        r"export must not be used; fix: re-export with python -m autolit\.export"):
        ExportedModel(out)
    (out / "metadata.json").unlink()
    with says(UserError, 'metadata.json',
              'is missing, so this export was never verified',
              'fix: re-export with python -m autolit.export CKPT --out'):
        ExportedModel(out)


def test_a_corrupt_test_record_is_named_with_the_verify_command(digits_fit, digits_ckpt, tmp_path):
    """The store is read back for the export's checks: a record damaged since its import is one line
    naming the store, the record and ``store verify``, not a decoder traceback; nothing is written."""
    import lmdb

    from autolit.store import StoreReader, envs, schema

    store = tmp_path / "store"
    shutil.copytree(digits_fit[1], store, ignore=shutil.ignore_patterns("lock.mdb"))
    reader = StoreReader(store)
    key = reader.keys("test")[2]
    header, _ = reader.read_record(key)
    envs.close_reader_env()  # LMDB: one env per store and process
    with lmdb.open(str(store)) as env, env.begin(write=True) as txn:  # the record changed behind the store's back
        txn.put(key, schema.pack_record(header, b"\x89PNG\r\n\x1a\n these bytes are no image"))
    out = tmp_path / "out"
    with pytest.raises(UserError, match=rf"record {key.decode()} of store .*store is damaged .*run `python -m "
                                        r"autolit\.store verify .*store` to list every bad record"):
        export_checkpoint(digits_ckpt, out, formats=["torchscript"], store=store)
    assert not out.exists()
