"""Damaged, tampered and unwritable stores: ``verify`` names the bad record; every other command
stops with one line naming the store (and record) and the fix, exit 2, never a bus error."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import lmdb
import pytest
import yaml

from autolit.datamodules import StoreDataModule
from autolit.store import StoreReader, envs, schema
from autolit.store.damage import StoreDamaged
from autolit.store.verify import verify_store
from tests.store.helpers import REPO, make_class_folder, png_bytes, read_only, subprocess_env
from tests.synthetic import write_store
from tests.training.conftest import base_config


def _cli(*args: str, module: str = "autolit.store", cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          env=subprocess_env(), cwd=cwd, timeout=300)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The run ended with exit 2 and exactly one ``error:`` line, no traceback; returns it."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and proc.stderr.strip().endswith(errors[0]), proc.stderr[-2000:]
    return errors[0]


def _put_raw(store: Path, key: bytes, value: bytes | None) -> None:
    """Change the LMDB file behind the store's back, as a disk fault or a tamperer would."""
    envs.close_reader_env()  # LMDB: one env per store and process
    env = lmdb.open(str(store))
    with env.begin(write=True) as txn:
        txn.put(key, value) if value is not None else txn.delete(key)
    env.close()


def _corrupt_one_record(store: Path, split: str = "train") -> bytes:
    """Replace one record's image bytes by garbage (header kept); returns its key."""
    reader = StoreReader(store)
    key = reader.keys(split)[3]
    header, _ = reader.read_record(key)
    _put_raw(store, key, schema.pack_record(header, b"\x89PNG\r\n\x1a\n these bytes are no image"))
    return key


def _fit_config(tmp_path: Path, store: Path, **data: object) -> Path:
    config = base_config(store)
    config["trainer"].update(max_epochs=1, enable_progress_bar=False, logger=False, enable_checkpointing=False)
    config["data"].update(data)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_verify_names_the_one_corrupted_record(tmp_path):
    store = write_store(tmp_path / "s", n=30)
    clean = _cli("verify", store)
    assert clean.returncode == 0 and clean.stdout.startswith(f"verify {store}: 30 records, 0 bad")
    key = _corrupt_one_record(store).decode()
    proc = _cli("verify", store)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"verify {store}: 30 records, 1 bad")
    assert lines[1].startswith(f"  {key}  sha256 of the image bytes is ")
    result = json.loads(_cli("verify", store, "--json").stdout)
    assert result["ok"] is False and [b["key"] for b in result["bad"]] == [key]


def test_verify_decodes_records_whose_hash_matches(tmp_path):
    """Bytes that hash right but are no image (a consistent tamper) are found by the decode."""
    store = write_store(tmp_path / "s", n=30)
    reader = StoreReader(store)
    old = reader.keys("val")[0]
    header, _ = reader.read_record(old)
    garbage = b"these bytes hash right but are no image" * 4
    header["sha256"] = sha = hashlib.sha256(garbage).hexdigest()
    _put_raw(store, old, None)
    _put_raw(store, schema.record_key("val", sha), schema.pack_record(header, garbage))
    result = json.loads(_cli("verify", store, "--json").stdout)
    assert result["bad"] == [{"key": f"s/val/{sha}", "problem": result["bad"][0]["problem"]}]
    assert result["bad"][0]["problem"].startswith("does not decode: UnidentifiedImageError")


@pytest.mark.parametrize("field", ["sha256", "split"])
def test_verify_lists_a_record_whose_header_lacks_sha256_or_split(tmp_path, field):
    store = write_store(tmp_path / "s", n=12)
    reader = StoreReader(store)
    key = reader.keys("train")[0]
    header, data = reader.read_record(key)
    del header[field]
    _put_raw(store, key, schema.pack_record(header, data))
    result = verify_store(store)  # was: KeyError traceback
    assert result.bad == [(key.decode(), "header lacks sha256/split")]


def test_truncated_store_is_one_line_for_info_import_verify_and_fit(tmp_path, image_folder):
    store = write_store(tmp_path / "s")
    data = store / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)
    expected = f"error: store {store} is damaged (data.mdb is truncated: "
    for args in (["info", store], ["import", "folder", image_folder, "--store", store], ["verify", store]):
        assert _one_error_line(_cli(*args)).startswith(expected), args  # was: bus error, exit 135
    fit = _cli("--config", _fit_config(tmp_path, store), module="autolit.fit", cwd=tmp_path)
    assert _one_error_line(fit).startswith(expected)


def test_flipped_meta_bytes_are_one_line(tmp_path):
    store = write_store(tmp_path / "s", n=10)
    reader = StoreReader(store)
    raw = reader._txn_get(schema.META_KEY)
    _put_raw(store, schema.META_KEY, raw[:20] + b"\xff\xff" + raw[22:])  # was: UnicodeDecodeError traceback
    line = _one_error_line(_cli("info", store))
    assert line.startswith(f"error: store {store} is damaged (meta: 'utf-8' codec can't decode")
    assert line.endswith(f"rebuild it from its source (delete {store} and import again) or restore a copy")


def test_fit_meeting_a_corrupt_record_in_a_loader_worker_names_it(tmp_path):
    store = write_store(tmp_path / "s")
    key = _corrupt_one_record(store).decode()
    config = _fit_config(tmp_path, store, cache="none", num_workers=2, mean=[0.2], std=[0.3])
    line = _one_error_line(_cli("--config", config, module="autolit.fit", cwd=tmp_path))
    assert line.startswith(f"error: record {key} of store {store} is damaged (image bytes do not decode: ")
    assert f"run `python -m autolit.store verify {store}`" in line


@pytest.mark.parametrize("workers", [0, 2])
def test_decoded_cache_build_meeting_a_corrupt_record_names_it_and_leaves_no_cache(tmp_path, workers):
    store = write_store(tmp_path / "s")
    key = _corrupt_one_record(store, split="val").decode()
    dm = StoreDataModule(str(store), cache="decoded", num_workers=workers, mean=[0.2], std=[0.3])
    with pytest.raises(StoreDamaged, match=rf"^record {key} of store {store} is damaged \(image bytes do not "
                                           r"decode: .*python -m autolit.store verify") as caught:
        dm.prepare_data()
    assert "\n" not in str(caught.value)  # a worker's traceback is not carried into the message
    assert not list((store / "cache").rglob("splits.json"))  # no half-built cache


@pytest.mark.parametrize(("field", "value", "message"), [
    ("width", 100000, r"header says 100000x8 pixels; this store keeps 1\.\.256"),
    ("channels", 4, r"header says 4 channels; stores hold 1 or 3"),
    ("label", 7, r"label index 7 is not one of the 3 labels"),
])
def test_tampered_record_headers_are_refused_before_use(tmp_path, field, value, message):
    store = write_store(tmp_path / "s", n=12)
    reader = StoreReader(store)
    key = reader.keys("train")[0]  # the record the data module sizes its input from
    header, data = reader.read_record(key)
    _put_raw(store, key, schema.pack_record({**header, field: value}, data))
    with pytest.raises(StoreDamaged, match=rf"^record {key.decode()} of store {store} is damaged \({message}\)"):
        StoreDataModule(str(store)).input_shape


def test_a_read_only_store_trains_and_refuses_imports_in_one_line(tmp_path, image_folder):
    store = write_store(tmp_path / "s", n=60)
    before = StoreReader(store).meta.fingerprint
    envs.close_reader_env()
    with read_only(store):
        assert _cli("info", store).returncode == 0  # was: lmdb.Error traceback (lock file not writable)
        line = _one_error_line(_cli("import", "folder", image_folder, "--store", store))
        assert line.startswith(f"error: cannot write store {store} (")
        with pytest.warns(UserWarning, match=r"read-only; use data.cache: none"):
            dm = StoreDataModule(str(store))  # auto would write a cache under the store: it decodes instead
            dm.setup("fit")
        assert sum(len(x) for x, _ in dm.train_dataloader()) == StoreReader(store).meta.splits["train"]
        envs.close_reader_env()
    assert StoreReader(store).meta.fingerprint == before  # nothing lost, nothing half-written


_LIMITED_IMPORT = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail instead of killing
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from autolit.errors import run_cli
    from autolit.store.importers import import_folder
    run_cli(lambda: import_folder(sys.argv[1], sys.argv[2], workers=1, batch_size=16) and 0)
""")


def test_a_full_disk_is_one_line_and_keeps_every_committed_batch(tmp_path):
    """A file size limit (RLIMIT_FSIZE) stands in for a full disk: the commit's writes fail."""
    store = tmp_path / "s"
    small = make_class_folder(tmp_path / "small", per_class=20)
    subprocess.run([sys.executable, "-m", "autolit.store", "import", "folder", str(small), "--store", str(store),
                    "--workers", "1"], env=subprocess_env(), check=True, capture_output=True)
    big = tmp_path / "big"
    for c, label in enumerate("ab"):
        (big / label).mkdir(parents=True)
        for i in range(100):
            (big / label / f"{i}.png").write_bytes(png_bytes(5000 + 1000 * c + i, (64, 64)))
    limit = (store / "data.mdb").stat().st_size + 300_000
    proc = subprocess.run([sys.executable, "-c", _LIMITED_IMPORT, str(big), str(store), str(limit)],
                          capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert _one_error_line(proc).startswith(f"error: cannot write store {store} (")
    reader = StoreReader(store)
    assert 40 < reader.meta.count < 240 and len(reader.keys()) == reader.meta.count  # whole batches only
    envs.close_reader_env()
    assert _cli("verify", store).returncode == 0
    again = _cli("import", "folder", big, "--store", store, "--json")  # the same command again finishes
    assert again.returncode == 0 and json.loads(again.stdout)["count"] == 240


def test_show_names_a_record_that_does_not_decode(tmp_path):
    store = write_store(tmp_path / "s", n=12)
    key = _corrupt_one_record(store).decode()
    line = _one_error_line(_cli("show", store, "--out", tmp_path / "grid.png"))
    assert line.startswith(f"error: record {key} of store {store} is damaged (image bytes do not decode: ")


@pytest.mark.parametrize(("args", "message"), [(["--n", "1000000"], "--n 1000000 is out of range; show 1..4096 images"),
                                               (["--n", "-3"], "--n -3 is out of range; show 1..4096 images"),
                                               (["--cell", "0"], "--cell 0 is out of range; use 8..512 pixels")])
def test_show_refuses_sheets_that_cannot_fit(tmp_path, args, message):
    store = write_store(tmp_path / "s", n=6)
    assert _one_error_line(_cli("show", store, "--out", tmp_path / "g.png", *args)) == f"error: {message}"
    assert not (tmp_path / "g.png").exists()


def test_show_that_cannot_write_its_sheet_is_one_line(tmp_path):
    store = write_store(tmp_path / "s", n=6)
    (tmp_path / "taken.png").mkdir()  # a folder where the sheet should go: the save fails with an OSError
    line = _one_error_line(_cli("show", store, "--out", tmp_path / "taken.png"))  # was: IsADirectoryError traceback
    assert line == f"error: --out {tmp_path / 'taken.png'}: cannot write there (Is a directory); " \
                   "fix: pick a folder you can write to"
