"""Dimension resolution as a pure function: no torch, just (name, args, shape) → args."""

from __future__ import annotations

import pytest

from autolit.modules.dims import AUTO_DIMS, resolve_dims
from autolit.modules.errors import SpecError
from tests.errors import says


@pytest.mark.parametrize(("name", "shape", "key", "want"), [
    ("Conv2d", (3, 32, 32), "in_channels", 3),
    ("Conv1d", (8, 100), "in_channels", 8),
    ("Linear", (576,), "in_features", 576),
    ("BatchNorm2d", (16, 7, 7), "num_features", 16),
    ("BatchNorm1d", (64,), "num_features", 64),
    ("GroupNorm", (32, 4, 4), "num_channels", 32),
    ("LayerNorm", (64,), "normalized_shape", 64),
    ("LayerNorm", (8, 4, 4), "normalized_shape", [8, 4, 4]),
])
def test_omitted_and_auto_are_filled(name: str, shape: tuple, key: str, want: object) -> None:
    assert resolve_dims(name, {}, shape, None, "x")[key] == want
    assert resolve_dims(name, {key: "auto"}, shape, None, "x")[key] == want


def test_every_auto_rule_names_a_registered_layer() -> None:
    from autolit.modules.layers import LAYERS
    assert set(AUTO_DIMS) <= set(LAYERS)


def test_n_labels_is_substituted_and_input_not_mutated() -> None:
    args = {"out_features": "n_labels"}
    out = resolve_dims("Linear", args, (64,), 10, "x")
    assert out == {"out_features": 10, "in_features": 64}
    assert args == {"out_features": "n_labels"}


def test_explicit_matching_dimension_is_kept() -> None:
    assert resolve_dims("Conv2d", {"in_channels": 3}, (3, 8, 8), None, "x")["in_channels"] == 3


def test_layer_norm_accepts_trailing_dims() -> None:
    assert resolve_dims("LayerNorm", {"normalized_shape": [4, 4]}, (8, 4, 4), None, "x") == {
        "normalized_shape": [4, 4]}


def test_layers_without_dims_pass_through() -> None:
    assert resolve_dims("ReLU", {"inplace": True}, (3, 8, 8), None, "x") == {"inplace": True}
    assert resolve_dims("Dropout", {}, (3,), 5, "x") == {}


def test_mismatched_explicit_dimension() -> None:
    with says(SpecError, 'm.Conv2d.in_channels',
              'is 3 but the input there has shape (1, 28, 28), which needs 1',
              'fix: omit in_channels') as err:
        resolve_dims("Conv2d", {"in_channels": 3}, (1, 28, 28), None, "m.Conv2d")
    assert err.value.path == "m.Conv2d.in_channels"


def test_layer_norm_shape_that_is_not_a_suffix() -> None:
    with pytest.raises(SpecError, match=r"normalized_shape: is \[8\] .*needs \[8, 4, 4\]"):
        resolve_dims("LayerNorm", {"normalized_shape": [8]}, (8, 4, 4), None, "m.LayerNorm")


def test_n_labels_unknown() -> None:
    with pytest.raises(SpecError, match="uses n_labels but the number of labels is not known"):
        resolve_dims("Linear", {"out_features": "n_labels"}, (4,), None, "m.Linear")


@pytest.mark.parametrize(("typo", "meant"), [("n_label", "n_labels"), ("num_labels", "n_labels"),
                                             ("nlabels", "n_labels"), ("atuo", "auto")])
def test_typos_of_the_special_words(typo: str, meant: str) -> None:
    with pytest.raises(SpecError, match=rf"unknown value '{typo}' \(did you mean {meant}\?\)"):
        resolve_dims("Linear", {"out_features": typo}, (4,), 3, "m.Linear")


def test_auto_where_nothing_resolves_it() -> None:
    with says(SpecError, 'Linear.out_features', "'auto' cannot be resolved", 'auto works for: in_features'):
        resolve_dims("Linear", {"out_features": "auto"}, (4,), 3, "m.Linear")


def test_other_strings_are_left_for_the_value_checks() -> None:
    assert resolve_dims("Conv2d", {"padding": "same"}, (1, 8, 8), None, "x")["padding"] == "same"
