"""Numbers read from files autolit did not just write are checked before they size anything:
IDX header dimensions, CSV fields, a store's meta counts."""

from __future__ import annotations

import gzip
import json
import struct

import lmdb
import pytest

from autolit.errors import UserError
from autolit.store import StoreReader, StoreWriter, envs, schema
from autolit.store.damage import StoreDamaged
from autolit.store.importers import import_csv, import_idx
from tests.synthetic import write_store


def _idx_folder(tmp_path, images_header: bytes, body: bytes = b"\x00" * 36, n_labels: int = 1):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte").write_bytes(images_header + body)
    (folder / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n_labels) + b"\x00" * n_labels)
    return folder


@pytest.mark.parametrize("dims", [(1, 0, 6), (1, 100000, 100000), (2**32 - 1, 2**32 - 1, 2**32 - 1)])
def test_idx_image_dimensions_out_of_range_are_refused(tmp_path, dims):
    folder = _idx_folder(tmp_path, struct.pack(">IIII", 0x803, *dims))
    with pytest.raises(UserError, match=rf"train-images-idx3-ubyte header says images of {dims[1]}x{dims[2]} "
                                        r"pixels, which is out of range \(1\.\.64000000 pixels\)"):
        import_idx(folder, tmp_path / "s", workers=1)
    assert not (tmp_path / "s").exists()


def test_an_idx_count_larger_than_memory_is_refused_before_reading(tmp_path):
    folder = _idx_folder(tmp_path, struct.pack(">IIII", 0x803, 2**32 - 1, 28, 28))
    # golden: this room's one test of a whole message, word for word (tests/errors.py)
    with pytest.raises(UserError, match=r"header says \(4294967295, 28, 28\) = 3136\.0 GiB of pixels; importing it "
                                        r"holds 3 copies, more than half of this machine's .* GiB of memory"):
        import_idx(folder, tmp_path / "s", workers=1)


def test_a_padded_gzip_idx_is_read_only_as_far_as_its_header_says(tmp_path):
    """A .gz whose content runs on past its header's size (a gzip bomb) is refused without inflating it all."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    header = struct.pack(">IIII", 0x803, 1, 6, 6)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + b"\x00" * 50_000_000, 1))
    (folder / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, 1) + b"\x00")
    with pytest.raises(UserError, match=r"is truncated or padded: 53 or more bytes, expected 52 for shape \(1, 6, 6\)"):
        import_idx(folder, tmp_path / "s", workers=1)


def test_a_binary_or_overlong_csv_is_one_line_naming_the_line(tmp_path):
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"img/a.png,1\n\xff\xd8\xff\xe0 not text\n")
    with pytest.raises(UserError, match=r"photo.csv:2: not UTF-8 text; pass a CSV of `path,target` rows"):
        import_csv(binary, tmp_path / "s")
    long = tmp_path / "long.csv"
    long.write_text("img/a.png,1\n" + "x" * 200_000 + ",2\n")
    with pytest.raises(UserError, match=r"long.csv:2: field larger than field limit"):
        import_csv(long, tmp_path / "s")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("field", "value"), [("count", -5), ("labels", "ab"), ("splits", {"train": 1})])
def test_a_tampered_meta_is_a_damaged_store(tmp_path, field, value):
    store = write_store(tmp_path / "s", n=6)
    envs.close_reader_env()
    env = lmdb.open(str(store))
    with env.begin(write=True) as txn:
        meta = json.loads(txn.get(schema.META_KEY))
        txn.put(schema.META_KEY, json.dumps({**meta, field: value}).encode())
    env.close()
    with pytest.raises(StoreDamaged, match=rf"^store {store} is damaged \(meta: ValueError\("):
        StoreReader(store)
    with pytest.raises(StoreDamaged, match=rf"^store {store} is damaged \(meta: ValueError\("):
        StoreWriter(store)  # nor extended
