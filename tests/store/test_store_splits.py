"""Split rule and dedup, as properties (hypothesis)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autolit.errors import UserError
from autolit.store import SplitPolicy, StoreReader, StoreWriter, split_for
from tests.store.helpers import png_bytes

shas = st.binary(min_size=1, max_size=32).map(lambda b: hashlib.sha256(b).hexdigest())
fractions = st.tuples(st.floats(0, 0.45), st.floats(0, 0.45)).map(lambda vt: SplitPolicy(*vt))


@given(shas, fractions)
def test_split_is_a_function_of_the_hash(sha, policy):
    assert split_for(sha, policy) == split_for(sha, SplitPolicy(policy.val, policy.test))
    assert split_for(sha, policy) in ("train", "val", "test")


@given(st.lists(shas, min_size=1, max_size=50, unique=True), st.lists(shas, max_size=50))
def test_adding_images_never_moves_existing_ones(existing, added):
    policy = SplitPolicy()
    before = {s: split_for(s, policy) for s in existing}
    after = {s: split_for(s, policy) for s in existing + added}
    assert all(after[s] == before[s] for s in existing)


def test_fractions_are_roughly_respected():
    policy = SplitPolicy(val=0.2, test=0.1)
    splits = [split_for(hashlib.sha256(str(i).encode()).hexdigest(), policy) for i in range(5000)]
    assert abs(splits.count("val") / 5000 - 0.2) < 0.03
    assert abs(splits.count("test") / 5000 - 0.1) < 0.03


def test_bad_fractions_are_user_errors():
    with pytest.raises(UserError, match=r"val=1.5 is out of range"):
        SplitPolicy(val=1.5)
    with pytest.raises(UserError, match="leave nothing for train"):
        SplitPolicy(val=0.6, test=0.5)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=25))
def test_store_holds_each_distinct_image_once(tmp_path_factory, seeds):
    path = tmp_path_factory.mktemp("dedup") / "s"
    with StoreWriter(path, labels=["a"], batch_size=4) as w:
        for i, seed in enumerate(seeds):
            w.add_image(png_bytes(seed), label="a", source=f"src-{i}")
    reader = StoreReader(path)
    assert reader.meta.count == len(set(seeds)) == len(reader.keys())
    reader.close()
