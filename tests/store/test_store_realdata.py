"""Imports of the real data sets in ../shared/data (skipped when absent)."""

from __future__ import annotations

import pytest

from autolit.store import StoreReader
from autolit.store.importers import import_folder, import_idx
from tests.store.helpers import shared_data

DATA = shared_data()
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(DATA is None, reason="shared data not found at <repo>/../shared/data "
                       "(set AUTOLIT_SHARED_DATA to the folder holding mnist/ and hymenoptera_data/)"),
]


@pytest.mark.slow
def test_import_idx_mnist_70k_then_again_adds_nothing(tmp_path):
    first = import_idx(DATA / "mnist", tmp_path / "mnist")
    meta = StoreReader(tmp_path / "mnist").meta
    assert first.added == meta.count == 70_000
    assert meta.labels == [str(d) for d in range(10)] and meta.splits["test"] == 10_000
    assert meta.per_label["1"] == 6742 + 1135
    again = import_idx(DATA / "mnist", tmp_path / "mnist")
    assert again.added == 0 and again.fingerprint == meta.fingerprint


def test_import_hymenoptera_train_skips_the_gif_placeholder(tmp_path):
    report = import_folder(DATA / "hymenoptera_data" / "train", tmp_path / "h")
    meta = StoreReader(tmp_path / "h").meta
    assert meta.labels == ["ants", "bees"]
    assert meta.per_label == {"ants": 123, "bees": 121} and report.added == 244
    assert report.skipped_by_reason() == {"format_not_allowed": 1}
    assert report.skipped[0][0].endswith("imageNotFound.gif")
