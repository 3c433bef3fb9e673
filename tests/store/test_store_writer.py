"""Writer and reader: roundtrip, dedup, idempotence, fingerprint, map growth, locking, errors."""

from __future__ import annotations

import json
import pickle

import lmdb
import pytest

from autolit.errors import UserError
from autolit.store import ImagePolicy, SplitPolicy, StoreReader, StoreWriter, put_aux
from autolit.store.schema import META_KEY
from tests.errors import says
from tests.store.helpers import png_bytes


def _fill(path, seeds, *, batch_size=512, map_size=1 << 24, labels=("a", "b")):
    with StoreWriter(path, labels=list(labels), batch_size=batch_size, map_size=map_size) as w:
        for s in seeds:
            w.add_image(png_bytes(s), label=labels[s % 2], source=f"img-{s}")
    return StoreReader(path)


def test_roundtrip_records_and_meta(tmp_path):
    reader = _fill(tmp_path / "s", range(20))
    assert reader.meta.count == 20 and reader.meta.labels == ["a", "b"]
    assert reader.meta.per_label == {"a": 10, "b": 10}
    assert sum(reader.meta.splits.values()) == 20
    keys = reader.keys()
    assert len(keys) == 20 and keys == sorted(keys, key=lambda k: k.rsplit(b"/", 1)[1])
    rec = reader.record(keys[0])
    data, label = reader.read(keys[0])
    assert rec["label"] == label and rec["label_name"] == reader.meta.labels[label]
    assert (rec["width"], rec["height"], rec["channels"]) == (8, 8, 1)
    assert rec["source"].startswith("img-") and len(data) > 0
    assert set(reader.info()) >= {"count", "labels", "per_label", "splits", "fingerprint",
                                  "schema_version", "task", "policy", "path"}


def test_exact_duplicates_are_stored_once(tmp_path):
    with StoreWriter(tmp_path / "s", labels=["a"], batch_size=3) as w:
        first = w.add_image(png_bytes(1), label="a", source="one")
        pending = w.add_image(png_bytes(1), label="a", source="two")  # same batch
        assert w.has_image(first.sha256) and not w.has_image("0" * 64)
        w.flush()
        assert w.has_image(first.sha256)
        committed = w.add_image(png_bytes(1), label="a", source="three")  # after commit
    assert first.status == "added"
    assert pending.status == committed.status == "duplicate"
    assert StoreReader(tmp_path / "s").meta.count == 1


def test_reimport_is_idempotent(tmp_path):
    a = _fill(tmp_path / "s", range(10)).meta
    b = _fill(tmp_path / "s", range(10)).meta
    assert (a.count, a.fingerprint) == (b.count, b.fingerprint)


def test_fingerprint_depends_on_content_only(tmp_path):
    one = _fill(tmp_path / "one", range(30), batch_size=4)
    two = _fill(tmp_path / "two", reversed(range(30)), batch_size=1000)
    assert one.meta.fingerprint == two.meta.fingerprint
    assert one.keys() == two.keys()
    three = _fill(tmp_path / "three", range(29))
    assert three.meta.fingerprint != one.meta.fingerprint


def test_map_full_grows_the_map_without_losing_or_doubling(tmp_path):
    reader = _fill(tmp_path / "s", range(200), batch_size=50, map_size=32 * 1024)
    assert reader.meta.count == 200 and len(reader.keys()) == 200
    assert reader.meta.fingerprint == _fill(tmp_path / "ref", range(200)).meta.fingerprint


def test_second_writer_is_refused(tmp_path):
    with StoreWriter(tmp_path / "s", labels=["a"]):
        with pytest.raises(UserError, match=r"already being written by another process .*use a different --store"):
            StoreWriter(tmp_path / "s", labels=["a"])


def test_open_batch_is_committed_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError):
        with StoreWriter(tmp_path / "s", labels=["a"]) as w:
            w.add_image(png_bytes(1), label="a", source="x")
            raise RuntimeError("boom")
    assert StoreReader(tmp_path / "s").meta.count == 1


def test_rejected_sources_are_remembered(tmp_path):
    with StoreWriter(tmp_path / "s", labels=["a"]) as w:
        res = w.add_image(b"not an image", label="a", source="bad")
        assert (res.status, res.reason) == ("rejected", "not_image")
        assert w.seen_source("bad") and not w.seen_source("other")
    with StoreWriter(tmp_path / "s") as w:
        assert w.source_outcome("bad") == "rejected:not_image"


def test_new_labels_are_appended_and_keep_indices(tmp_path):
    with StoreWriter(tmp_path / "s", labels=["b"]) as w:
        w.add_image(png_bytes(1), label="a", source="1")
        assert w.labels == ["b", "a"]
    with StoreWriter(tmp_path / "s", labels=["c", "b"]) as w:
        assert w.labels == ["b", "a", "c"]
    assert StoreReader(tmp_path / "s").meta.labels == ["b", "a", "c"]


def test_regression_targets(tmp_path):
    with StoreWriter(tmp_path / "s", task="regression") as w:
        w.add_image(png_bytes(1), target=1.5, source="1")
        with pytest.raises(ValueError, match="regression store needs target"):
            w.add_image(png_bytes(2), label="x", source="2")
        with pytest.raises(ValueError, match="finite"):
            w.add_image(png_bytes(3), target=float("nan"), source="3")
    with StoreWriter(tmp_path / "s") as w:  # task=None: the store's own
        assert w.task == "regression"
    reader = StoreReader(tmp_path / "s")
    assert reader.read(reader.keys()[0])[1] == 1.5 and reader.meta.labels == []


def test_incompatible_reopen_is_a_user_error(tmp_path):
    _fill(tmp_path / "s", range(2))
    with pytest.raises(UserError, match="built with task classification, but regression"):
        StoreWriter(tmp_path / "s", task="regression")
    with pytest.raises(UserError, match="built with image policy"):
        StoreWriter(tmp_path / "s", policy=ImagePolicy(max_side=32))
    with pytest.raises(UserError, match="built with split policy"):
        StoreWriter(tmp_path / "s", split=SplitPolicy(val=0.2, test=0.0))


def test_writer_refuses_a_non_empty_non_store_folder(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    with pytest.raises(UserError, match=r"photos exists, is not empty and is not an autolit store"):
        StoreWriter(tmp_path / "photos")


def test_reader_errors_name_the_path(tmp_path):
    with pytest.raises(UserError, match=r"store .*nope does not exist; create one with"):
        StoreReader(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match=r"plain is not an autolit store \(no data.mdb\)"):
        StoreReader(tmp_path / "plain")


def test_newer_schema_is_refused(tmp_path):
    _fill(tmp_path / "s", range(2)).close()  # LMDB: one env per store and process
    env = lmdb.open(str(tmp_path / "s"))
    with env.begin(write=True) as txn:
        meta = json.loads(txn.get(META_KEY))
        txn.put(META_KEY, json.dumps({**meta, "schema_version": 99}).encode())
    env.close()
    with pytest.raises(UserError, match=r"schema version 99, newer than version 1 .*upgrade autolit"):
        StoreReader(tmp_path / "s")
    with pytest.raises(UserError, match="schema version 99"):
        StoreWriter(tmp_path / "s")


def test_reader_pickles_without_env_and_aux_is_outside_fingerprint(tmp_path):
    reader = _fill(tmp_path / "s", range(6))
    key = reader.keys()[0]
    before = reader.read(key)
    put_aux(tmp_path / "s", "stats", {"mean": [0.5]})
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.read(key) == before and clone.get_aux("stats") == {"mean": [0.5]}
    assert reader.get_aux("missing") is None
    assert StoreReader(tmp_path / "s").meta.fingerprint == reader.meta.fingerprint


def test_reader_borrows_an_open_writer_env(tmp_path):
    with StoreWriter(tmp_path / "s", labels=["a"]) as w:
        w.add_image(png_bytes(1), label="a", source="1")
        w.flush()
        assert StoreReader(tmp_path / "s").meta.count == 1
        put_aux(tmp_path / "s", "k", {"v": 1})
    assert StoreReader(tmp_path / "s").get_aux("k") == {"v": 1}


def test_writer_refuses_an_lmdb_database_that_is_not_a_store(tmp_path):
    env = lmdb.open(str(tmp_path / "foreign"))
    with env.begin(write=True) as txn:
        txn.put(b"user-key", b"user-value")
    env.close()
    with says(UserError, 'foreign', 'is an LMDB database but not an autolit store', 'it is left untouched'):
        StoreWriter(tmp_path / "foreign", labels=["a"])  # was: wrote an autolit meta into it
    env = lmdb.open(str(tmp_path / "foreign"), readonly=True)
    with env.begin() as txn:
        assert list(txn.cursor()) == [(b"user-key", b"user-value")]
    env.close()


def test_writer_adopts_an_empty_lmdb_left_by_a_crash_before_the_first_commit(tmp_path):
    lmdb.open(str(tmp_path / "s")).close()
    with says(UserError, 'holds no store yet',
              'an import is writing its first batch',
              'wait for it, or run the import again'):
        StoreReader(tmp_path / "s")  # what `store info` says meanwhile (not 'not an autolit store')
    with StoreWriter(tmp_path / "s", labels=["a"]) as w:
        w.add_image(png_bytes(1), label="a", source="1")
    assert StoreReader(tmp_path / "s").meta.count == 1
