"""Spec → network: every registered layer builds, shapes flow, Residual, meta-device counting."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from autolit.modules import LAYERS, Residual, build_network, count_parameters, output_shape, resolve_spec

# One small spec per registry entry, with the input shape it needs and the output it gives.
LAYER_CASES: dict[str, tuple[list[dict], tuple[int, ...], tuple[int, ...]]] = {
    "Conv1d": ([{"Conv1d": {"out_channels": 4, "kernel_size": 3}}], (2, 10), (4, 8)),
    "Conv2d": ([{"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}], (3, 8, 8), (4, 8, 8)),
    "Linear": ([{"Linear": {"out_features": 5}}], (7,), (5,)),
    "BatchNorm1d": ([{"BatchNorm1d": {}}], (7,), (7,)),
    "BatchNorm2d": ([{"BatchNorm2d": {}}], (3, 8, 8), (3, 8, 8)),
    "LayerNorm": ([{"LayerNorm": {}}], (3, 8, 8), (3, 8, 8)),
    "GroupNorm": ([{"GroupNorm": {"num_groups": 2}}], (4, 8, 8), (4, 8, 8)),
    "Dropout": ([{"Dropout": {"p": 0.3}}], (7,), (7,)),
    "Dropout2d": ([{"Dropout2d": {}}], (3, 8, 8), (3, 8, 8)),
    "ReLU": ([{"ReLU": {}}], (3, 8, 8), (3, 8, 8)),
    "GELU": ([{"GELU": {"approximate": "tanh"}}], (7,), (7,)),
    "SiLU": ([{"SiLU": None}], (7,), (7,)),
    "LeakyReLU": ([{"LeakyReLU": {"negative_slope": 0.1}}], (7,), (7,)),
    "Tanh": ([{"Tanh": {}}], (7,), (7,)),
    "Sigmoid": ([{"Sigmoid": {}}], (7,), (7,)),
    "MaxPool2d": ([{"MaxPool2d": {"kernel_size": 2}}], (3, 8, 8), (3, 4, 4)),
    "AvgPool2d": ([{"AvgPool2d": {"kernel_size": 2, "stride": 2}}], (3, 8, 8), (3, 4, 4)),
    "AdaptiveAvgPool2d": ([{"AdaptiveAvgPool2d": {"output_size": 1}}], (3, 8, 8), (3, 1, 1)),
    "Flatten": ([{"Flatten": {}}], (3, 8, 8), (192,)),
    "Identity": ([{"Identity": {}}], (3, 8, 8), (3, 8, 8)),
    "Residual": ([{"Residual": {"layers": [{"Conv2d": {"out_channels": 3, "kernel_size": 3,
                                                       "padding": "same"}}]}}], (3, 8, 8), (3, 8, 8)),
    "Backbone": ([{"Backbone": {"name": "test_efficientnet", "weights": "none"}}], (3, 8, 8), (256,)),
}


def test_every_registered_layer_has_a_case() -> None:
    assert set(LAYER_CASES) == set(LAYERS)


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_every_layer_builds_and_runs(name: str) -> None:
    spec, shape, out = LAYER_CASES[name]
    assert output_shape(spec, shape, 3) == out
    net = build_network(spec, shape, 3).eval()
    assert isinstance(net[0], LAYERS[name])
    y = net(torch.randn(2, *shape))  # (2, *shape) → (2, *out): real compute agrees with meta
    assert tuple(y.shape) == (2, *out)


def test_resolution_fills_every_width() -> None:
    spec = [{"Conv2d": {"out_channels": 8, "kernel_size": 3}}, {"BatchNorm2d": {}}, {"ReLU": {}},
            {"GroupNorm": {"num_groups": 4, "num_channels": "auto"}},
            {"Flatten": {}}, {"LayerNorm": {}}, {"Linear": {"out_features": "n_labels"}}]
    resolved = resolve_spec(spec, [1, 5, 5], 4)
    assert resolved == [
        {"Conv2d": {"out_channels": 8, "kernel_size": 3, "in_channels": 1}},
        {"BatchNorm2d": {"num_features": 8}}, {"ReLU": {}},
        {"GroupNorm": {"num_groups": 4, "num_channels": 8}},
        {"Flatten": {}}, {"LayerNorm": {"normalized_shape": 72}},
        {"Linear": {"out_features": 4, "in_features": 72}},
    ]
    assert json.loads(json.dumps(resolved)) == resolved  # plain JSON/YAML data
    assert spec[0] == {"Conv2d": {"out_channels": 8, "kernel_size": 3}}  # input untouched
    assert resolve_spec(resolved, [1, 5, 5], 4) == resolved  # idempotent: resolved specs rebuild


def test_count_parameters_matches_the_real_network() -> None:
    spec = [{"Conv2d": {"out_channels": 6, "kernel_size": 3}}, {"BatchNorm2d": {}},
            {"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}]
    real = sum(p.numel() for p in build_network(spec, (2, 6, 6), 3).parameters())
    assert count_parameters(spec, (2, 6, 6), 3) == real == (6 * 2 * 9 + 6) + 12 + (6 * 16 * 3 + 3)


def test_count_parameters_needs_no_memory() -> None:
    # 2**16 x 2**16 Linear = 4.3e9 parameters: 17 GB if it were allocated
    spec = [{"Linear": {"out_features": 2 ** 16}}]
    assert count_parameters(spec, (2 ** 16,), 1) == 2 ** 32 + 2 ** 16


def test_residual_adds_its_input() -> None:
    net = build_network([{"Residual": {"layers": [{"Identity": {}}]}}], (3,), 1)
    assert isinstance(net[0], Residual)
    x = torch.randn(4, 3)
    torch.testing.assert_close(net(x), 2 * x)


def test_residual_nests_and_resolves_inside() -> None:
    block = {"Residual": {"layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
                                     {"BatchNorm2d": {}}, {"ReLU": {}}]}}
    spec = [{"Conv2d": {"out_channels": 4, "kernel_size": 1}},
            {"Residual": {"layers": [block, block]}}]
    resolved = resolve_spec(spec, (2, 6, 6), 1)
    inner = resolved[1]["Residual"]["layers"][0]["Residual"]["layers"]
    assert inner[0]["Conv2d"]["in_channels"] == 4 and inner[1]["BatchNorm2d"]["num_features"] == 4
    assert build_network(spec, (2, 6, 6), 1)(torch.randn(1, 2, 6, 6)).shape == (1, 4, 6, 6)


def test_build_network_is_a_sequential_of_registry_classes() -> None:
    net = build_network([{"Flatten": {}}, {"Linear": {"out_features": 2}}], (1, 2, 2), 2)
    assert isinstance(net, nn.Sequential) and [type(m) for m in net] == [nn.Flatten, nn.Linear]
    assert next(net.parameters()).device.type == "cpu"


def test_lists_in_arguments_are_accepted() -> None:
    spec = [{"Conv2d": {"out_channels": 2, "kernel_size": [3, 1], "stride": [1, 2]}}]
    assert output_shape(spec, (1, 8, 8), 1) == (2, 6, 4)


def test_numpy_scalars_become_plain_json_values() -> None:
    np = pytest.importorskip("numpy")
    spec = [{"Conv2d": {"out_channels": np.int64(4), "kernel_size": (np.int32(3), 3)}},
            {"Dropout": {"p": np.float32(0.5)}}]
    resolved = resolve_spec(spec, (1, 8, 8), 1)
    assert resolved[0]["Conv2d"] == {"out_channels": 4, "kernel_size": [3, 3], "in_channels": 1}
    assert type(resolved[0]["Conv2d"]["out_channels"]) is int
    assert json.loads(json.dumps(resolved)) == resolved


def test_inplace_is_fine_outside_residual() -> None:
    net = build_network([{"ReLU": {"inplace": True}}], (3,), 1)
    assert net(torch.tensor([[-1.0, 0.0, 2.0]])).tolist() == [[0.0, 0.0, 2.0]]
