"""StoreDataModule on tiny synthetic stores: what it exposes, the three serving modes, workers, caches."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch

from autolit.datamodules import StoreDataModule
from autolit.datamodules import cache as decoded_cache
from autolit.errors import UserError
from autolit.store import StoreReader, StoreWriter, encode_array
from tests.errors import says
from tests.synthetic import LABELS, write_store


@pytest.fixture()
def store(tmp_path) -> Path:
    return write_store(tmp_path / "s", n=90)


def digests(batches) -> list[str]:
    """One sha256 per image of every batch, so images can be followed across loaders and orders."""
    return [hashlib.sha256(img.numpy().tobytes()).hexdigest() for x, _ in batches for img in x]


def served(dm: StoreDataModule, split: str) -> list:
    dm.setup("fit")
    return list(getattr(dm, f"{split}_dataloader")())


def test_exposes_what_the_model_resolves_its_spec_from(store):
    dm = StoreDataModule(str(store), image_size=12, channels=3)
    assert dm.task == "classification"  # the store's kind; the model picks multiclass or binary
    assert dm.label_names == LABELS and dm.n_labels == 3
    assert dm.input_shape == [3, 12, 12]
    native = StoreDataModule(str(store))
    assert native.input_shape == [1, 8, 8]
    pre = native.preprocessing
    assert pre["image_size"] == 8 and pre["channels"] == 1 and pre["store_fingerprint"] == native.fingerprint
    assert len(pre["mean"]) == len(pre["std"]) == 1 and 0 < pre["mean"][0] < 1


@pytest.mark.parametrize("mode", ["none", "decoded", "device"])
def test_every_mode_serves_each_split_record_once_per_epoch(store, mode):
    dm = StoreDataModule(str(store), batch_size=8, cache=mode)
    counts = StoreReader(store).meta.splits
    for split in ("train", "val", "test"):
        batches = served(dm, split)
        got = digests(batches)
        assert len(got) == len(set(got)) == counts[split], split
        x, y = batches[0]
        assert x.dtype == torch.uint8 and x.shape[1:] == (1, 8, 8) and y.dtype == torch.long
    # the shuffled train loader gives a new order each epoch, still each record once
    first, second = digests(dm.train_dataloader()), digests(dm.train_dataloader())
    assert first != second and sorted(first) == sorted(second)


def test_modes_agree_on_pixels_and_targets(store):
    """The decoded cache and device mode are exact copies of decoding from LMDB (no drift between paths)."""
    results = {}
    for mode in ("none", "decoded", "device"):
        batches = served(StoreDataModule(str(store), image_size=16, batch_size=16, cache=mode), "val")
        results[mode] = (torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
    for mode in ("decoded", "device"):
        assert torch.equal(results[mode][0], results["none"][0]), mode
        assert torch.equal(results[mode][1], results["none"][1]), mode


def test_auto_picks_device_for_small_sets_and_decoded_with_augmentation(store):
    assert StoreDataModule(str(store))._resolved_cache_mode() == "device"
    flip = [{"RandomHorizontalFlip": {"p": 1.0}}]
    assert StoreDataModule(str(store), augment=flip)._resolved_cache_mode() == "decoded"
    assert StoreDataModule(str(store), device_limit_mb=0)._resolved_cache_mode() == "decoded"


def test_augmentations_touch_the_train_split_only(store):
    flip = [{"RandomHorizontalFlip": {"p": 1.0}}]
    plain = StoreDataModule(str(store), batch_size=64, cache="decoded")
    flipped = StoreDataModule(str(store), batch_size=64, cache="decoded", augment=flip)
    assert digests(served(plain, "val")) == digests(served(flipped, "val"))
    x_plain = {hashlib.sha256(img.flip(-1).numpy().tobytes()).hexdigest() for x, _ in served(plain, "train") for img in x}
    assert set(digests(served(flipped, "train"))) == x_plain


def test_device_mode_refuses_augmentations_with_the_fix(store):
    dm = StoreDataModule(str(store), cache="device", augment=[{"RandomHorizontalFlip": {}}])
    with pytest.raises(UserError, match="use cache: decoded with data.augment"):
        dm.setup("fit")


def test_augmentation_that_changes_the_shape_is_refused_with_the_fix(store):
    crop = [{"RandomResizedCrop": {"size": 64, "antialias": True}}]
    dm = StoreDataModule(str(store), image_size=32, augment=crop)
    with says(UserError, 'data.augment', 'turns a [1, 32, 32] uint8 image into [1, 64, 64]', 'give crops size 32'):
        dm.setup("fit")


def test_normalisation_runs_after_transfer_with_train_statistics(store):
    dm = StoreDataModule(str(store), batch_size=1000)
    x, y = next(iter(served(dm, "train")))
    xn, yn = dm.on_after_batch_transfer((x, y), 0)
    assert xn.dtype == torch.float32 and torch.equal(yn, y)
    assert abs(float(xn.mean())) < 1e-3 and abs(float(xn.std()) - 1) < 0.05  # the stats are the train split's
    example = torch.zeros(2, 1, 8, 8)
    assert dm.on_after_batch_transfer(example, 0) is example  # float inputs (model summary) pass through


def test_statistics_are_computed_once_and_stored(store, monkeypatch):
    first = StoreDataModule(str(store)).mean_std
    import autolit.datamodules.stats as stats

    monkeypatch.setattr(stats, "decode_record", lambda *a: pytest.fail("stats recomputed"))
    assert StoreDataModule(str(store)).mean_std == first
    given = StoreDataModule(str(store), mean=[0.5], std=[0.25]).mean_std
    assert given == ([0.5], [0.25])


def test_decoded_cache_is_built_once_then_reused_and_keyed_by_content(store, monkeypatch):
    StoreDataModule(str(store), image_size=16, cache="decoded").prepare_data()
    built = list((store / "cache").glob("decoded-*-16px-1c-*"))
    assert len(built) == 1
    stamp = (built[0] / "images.npy").stat().st_mtime_ns

    monkeypatch.setattr(decoded_cache, "_build", lambda *a: pytest.fail("cache rebuilt"))
    dm = StoreDataModule(str(store), image_size=16, cache="decoded")
    dm.prepare_data()
    served(dm, "train")
    assert (built[0] / "images.npy").stat().st_mtime_ns == stamp
    monkeypatch.undo()

    # new content means a new fingerprint, so a new cache: the old one is never served stale
    with StoreWriter(store) as writer:
        writer.add_normalized(encode_array(np.full((8, 8), 7, np.uint8)), label="dot", source="extra")
    StoreDataModule(str(store), image_size=16, cache="decoded").prepare_data()
    assert len(list((store / "cache").glob("decoded-*-16px-1c-*"))) == 2
    assert not list((store / "cache").glob(".building-*"))


@pytest.mark.parametrize("mode", ["decoded", "device"])
def test_the_decoded_cache_is_opened_once_per_fit(store, monkeypatch, mode):
    """prepare_data and the three splits share one opened (and checked) cache."""
    calls = []
    real = decoded_cache.get_or_build
    monkeypatch.setattr(decoded_cache, "get_or_build", lambda *a, **k: calls.append(a) or real(*a, **k))
    dm = StoreDataModule(str(store), batch_size=8, cache=mode)
    dm.prepare_data()
    dm.setup("fit")
    assert len(calls) == 1 and sum(len(y) for _, y in dm.val_dataloader()) == StoreReader(store).meta.splits["val"]


def test_device_mode_is_checked_against_the_gpus_free_memory(store, monkeypatch):
    """On a CUDA trainer cache: device must fit in the GPU's free memory, not the host's RAM."""
    from types import SimpleNamespace

    asked = []
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: asked.append(device) or (1000, 2**34))
    dm = StoreDataModule(str(store), image_size=16, cache="device")
    dm._trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 1)))
    # golden: this room's one test of a whole message, word for word (tests/errors.py)
    with pytest.raises(UserError, match=r"^data\.cache: device: data\.image_size 16 makes the decoded data set "
                                        r".*more than half of the device's 0\.0 GiB"):
        dm.prepare_data()
    assert asked == [torch.device("cuda", 1)]
    auto = StoreDataModule(str(store), image_size=16)
    auto._trainer = dm._trainer
    with pytest.warns(UserWarning, match="data.cache auto: .*device's 0.0 GiB"):
        assert auto._resolved_cache_mode() == "none"


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_loader_workers_read_each_record_once(store, method):
    """Two workers decoding from LMDB (cache: none), under fork and spawn, after the parent has read."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"start method {method} is not available on this platform")
    dm = StoreDataModule(str(store), batch_size=5, num_workers=2, cache="none")
    single = sorted(digests(served(StoreDataModule(str(store), batch_size=5, cache="none"), "train")))
    dm.setup("fit")
    loader = dm.train_dataloader()
    loader.multiprocessing_context = multiprocessing.get_context(method)
    assert sorted(digests(loader)) == single
    assert sorted(digests(loader)) == single  # a second epoch (new worker processes) too


def test_missing_store_without_source_names_the_fix(tmp_path):
    with pytest.raises(UserError, match=r"data.store: .*missing.* does not exist; import data first"):
        StoreDataModule(str(tmp_path / "missing")).n_labels


def test_missing_store_with_source_is_created_on_first_use(tmp_path):
    dm = StoreDataModule(str(tmp_path / "digits"), source="digits")
    assert dm.n_labels == 10 and dm.input_shape == [1, 8, 8]
    assert StoreReader(tmp_path / "digits").meta.count == 1797


@pytest.mark.parametrize("kwargs, match", [
    ({"cache": "ram"}, "data.cache: 'ram' is not valid for StoreDataModule .must be one of auto, none"),
    ({"channels": 2}, "data.channels: 2 is not valid .*must be 1 .grey. or 3 .RGB."),
    ({"batch_size": 0}, "data.batch_size: 0 is not valid .*must be an integer >= 1"),
    ({"image_size": -4}, "data.image_size: -4 is not valid .*must be an integer >= 1"),
    ({"num_workers": -1}, "data.num_workers: -1 is not valid .*must be an integer >= 0"),
    ({"augment": [{"RandomFlip": {}}]}, r"data.augment\[0\]: unknown augmentation 'RandomFlip'"),
    ({"channels": 3, "mean": [0.5, 0.5], "std": [0.2] * 3},
     r"^data\.mean has 2 values but the data has 3 channels .*fix: give 3 values, or leave data\.mean out"),
    ({"channels": 3, "mean": [0.5] * 3, "std": [0.2]}, r"^data\.std has 1 value but the data has 3 channels"),
    ({"std": [0]}, r"^data\.std must be a list of positive numbers, one per channel, got \[0\]"),
    ({"std": [-0.1]}, r"^data\.std must be a list of positive numbers"),
    ({"mean": [float("nan")]}, r"^data\.mean must be a list of finite numbers, one per channel, got \[nan\]"),
    ({"std": [float("inf")]}, r"^data\.std must be a list of positive numbers"),
    ({"mean": []}, r"^data\.mean must be a list of finite numbers"),
])
def test_bad_arguments_name_the_key(store, kwargs, match):
    with pytest.raises(UserError, match=match):
        StoreDataModule(str(store), **kwargs)


@pytest.mark.parametrize("kwargs", [{"mean": [0.5, 0.5, 0.5]}, {"mean": [0.5] * 3, "std": [0.2] * 3},
                                    {"std": [0.2, 0.2]}])
def test_statistics_must_match_the_stores_channels(store, kwargs):
    """data.channels not given: the grey store's one channel; a mismatch used to fail (or broadcast) mid-fit."""
    dm = StoreDataModule(str(store), **kwargs)
    key = "mean" if "mean" in kwargs else "std"
    with pytest.raises(UserError, match=rf"^data\.{key} has \d values but the data has 1 channel \(data\.channels "
                                        rf"or the store's\)"):
        dm.preprocessing


def _photo_folder(root: Path, offset: int) -> Path:
    """<root>/<label>/<n>.png: two labels, three small distinct images each."""
    from PIL import Image

    for k, label in enumerate(("a", "b")):
        (root / label).mkdir(parents=True)
        for n in range(3):
            pixels = np.full((8, 8), 20 * (offset + 3 * k + n) % 256, np.uint8)
            Image.fromarray(pixels).save(root / label / f"{n}.png")
    return root


def test_a_list_of_sources_builds_one_store_and_an_interrupted_build_is_finished(tmp_path):
    first, second = _photo_folder(tmp_path / "f1", 0), _photo_folder(tmp_path / "f2", 6)
    store = tmp_path / "s"
    with pytest.raises(UserError, match="does not exist"):
        StoreDataModule(str(store), source=[f"folder:{first}", f"folder:{tmp_path / 'typo'}"]).n_labels
    assert not store.exists()  # never a store that looks complete but is not
    assert StoreReader(tmp_path / "s.partial").meta.count == 6
    dm = StoreDataModule(str(store), source=[f"folder:{first}", f"folder:{second}"])
    assert dm.label_names == ["a", "b"]
    assert StoreReader(store).meta.count == 12 and not (tmp_path / "s.partial").exists()


def test_a_source_pinned_to_test_is_exactly_the_test_split(tmp_path):
    """``{folder: DIR, split: test}``: that folder is the test split; the rest splits train/val only."""
    train, held = _photo_folder(tmp_path / "train", 0), _photo_folder(tmp_path / "held", 6)
    dm = StoreDataModule(str(tmp_path / "s"), source=[f"folder:{train}", {"folder": str(held), "split": "test"}])
    assert dm.reader.meta.splits["test"] == 6 and dm.reader.meta.split.test == 0.0
    with pytest.raises(UserError, match=r"data.source\[0\]\.pin: unknown option; folder takes split"):
        StoreDataModule(str(tmp_path / "t"), source=[{"folder": str(held), "pin": "test"}]).n_labels
