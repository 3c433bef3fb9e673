"""Backbone as a spec layer: names from the registries, meta-device shapes, argument checks."""

from __future__ import annotations

import pytest
import torch

from autolit.modules import SpecError, build_network, count_parameters, output_shape, resolve_spec
from tests.modules.conftest import TINY

HEAD = [{"Dropout": {"p": 0.2}}, {"Linear": {"out_features": "n_labels"}}]


def spec(**backbone: object) -> list[dict]:
    return [{"Backbone": {"name": TINY, "weights": "none", **backbone}}, *HEAD]


def test_auto_dims_resolve_after_a_backbone() -> None:
    resolved = resolve_spec(spec(), [3, 64, 64], 2)
    assert resolved[0] == {"Backbone": {"name": TINY, "weights": "none", "trainable": "all",
                                        "library": "timm", "in_chans": 3}}
    assert resolved[2] == {"Linear": {"out_features": 2, "in_features": 256}}


def test_shapes_and_parameters_on_meta_without_the_weights_file_or_the_network(
        blocked_network: list[str], tmp_path) -> None:
    """Resolution, shapes and parameter counts never read ``weights`` nor go online."""
    missing = str(tmp_path / "not-there.safetensors")
    layers = [{"Backbone": {"name": "tf_efficientnet_lite0", "weights": missing, "trainable": "last:2"}}, *HEAD]
    assert output_shape(layers, [3, 224, 224], 2) == (2,)
    assert count_parameters(layers, [3, 224, 224], 2) == 3_371_008 + 1280 * 2 + 2
    layers[0]["Backbone"]["weights"] = "imagenet"
    assert count_parameters(layers, [3, 224, 224], 2) == 3_373_570
    assert blocked_network == []


def test_meta_count_equals_the_real_network() -> None:
    real = build_network(spec(), [3, 32, 32], 3)
    assert count_parameters(spec(), [3, 32, 32], 3) == sum(p.numel() for p in real.parameters())
    assert real.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_torchvision_names_resolve_too() -> None:
    layers = [{"Backbone": {"name": "mobilenet_v3_small", "weights": "none"}}, *HEAD]
    assert resolve_spec(layers, [3, 64, 64], 2)[0]["Backbone"]["library"] == "torchvision"
    both = [{"Backbone": {"name": "resnet18", "weights": "none", "library": "torchvision"}}, *HEAD]
    assert resolve_spec(both, [3, 64, 64], 2)[2]["Linear"]["in_features"] == 512
    assert resolve_spec(both[:0] + [{"Backbone": {"name": "resnet18", "weights": "none"}}, *HEAD],
                        [3, 64, 64], 2)[0]["Backbone"]["library"] == "timm"


def test_grey_input_sets_in_chans() -> None:
    resolved = resolve_spec(spec(), [1, 32, 32], 2)
    assert resolved[0]["Backbone"]["in_chans"] == 1
    assert build_network(spec(), [1, 32, 32], 2).eval()(torch.zeros(2, 1, 32, 32)).shape == (2, 2)


@pytest.mark.parametrize(("backbone", "input_shape", "message"), [
    ({"name": "tf_efficientnet_lit0"}, [3, 64, 64],
     r"model\.layers\[0\]\.Backbone\.name: unknown architecture 'tf_efficientnet_lit0' \(close matches: "
     r"tf_efficientnet_lite0.*\); names come from timm\.list_models\(\) and torchvision"),
    ({"name": "mobilenet_v3_smal", "library": "torchvision"}, [3, 64, 64],
     r"Backbone\.name: torchvision has no architecture 'mobilenet_v3_smal' \(close matches: mobilenet_v3_small"),
    ({"name": TINY, "library": "keras"}, [3, 64, 64], r"Backbone\.library: unknown library 'keras'; valid: auto, timm, torchvision"),
    ({"name": TINY, "trainable": "last2"}, [3, 64, 64],
     r"Backbone\.trainable: must be all, none or last:N with N in 0\.\.6 \(this architecture has 6 blocks\), got 'last2'"),
    ({"name": TINY, "trainable": "last:7"}, [3, 64, 64], r"N in 0\.\.6 .* got 'last:7'"),
    ({"name": TINY, "pretrained": True}, [3, 64, 64],
     r"Backbone\.pretrained: unknown argument 'pretrained' for Backbone \(did you mean 'weights'\?\); "
     r"valid arguments: name, weights, trainable"),
    ({"weights": "none"}, [3, 64, 64], r"Backbone needs name; fix: add name: tf_efficientnet_lite0"),
    ({"name": TINY, "weights": ""}, [3, 64, 64], r"Backbone\.weights: must be imagenet, none or the path"),
    ({"name": TINY, "in_chans": 1}, [3, 64, 64], r"Backbone\.in_chans: is 1 but the input has 3 channels"),
    ({"name": "mobilenet_v3_small"}, [1, 64, 64], r"in_chans: is 1 .*torchvision mobilenet_v3_small takes 3\); fix: set data\.channels: 3"),
    ({"name": "vgg11"}, [3, 16, 16], r"Backbone: vgg11 fails on input \(3, 16, 16\): .*Output size is too small; "
                                     r"fix: use a larger data\.image_size"),
])
def test_mistakes_name_the_place_and_the_fix(backbone: dict, input_shape: list[int], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        resolve_spec([{"Backbone": {"weights": "none", **backbone}}, *HEAD], input_shape, 2)


def test_backbone_needs_image_input() -> None:
    with pytest.raises(SpecError, match=r"model\.layers\[1\]\.Backbone: Backbone needs image input \(B, C, H, W\) "
                                        r"but the input there is \(B, 48\); fix: put Backbone first"):
        resolve_spec([{"Flatten": {}}, *spec()], [3, 4, 4], 2)


def test_search_feasibility_counts_the_backbone(blocked_network: list[str]) -> None:
    """The search's meta-device check (its max_params) sees a Backbone spec like any other."""
    from autolit.search.run.feasibility import DataInfo, check_feasible

    layers = [{"Backbone": {"name": "tf_efficientnet_lite0", "weights": "imagenet", "trainable": "last:1"}}, *HEAD]
    info = DataInfo((3, 224, 224), 2)
    assert check_feasible(layers, info, "multiclass", 5_000_000) == (None, 3_373_570)
    problem, count = check_feasible(layers, info, "multiclass", 1_000_000)
    assert problem == "3373570 parameters > study.max_params 1000000" and count == 3_373_570
    assert blocked_network == []


def test_a_searched_backbone_name_builds_at_every_probe(blocked_network: list[str]) -> None:
    """``name`` and ``trainable`` are ranges like any layer argument; each probe resolves on meta."""
    from autolit.search.run.feasibility import DataInfo, check_feasible
    from autolit.search.space import parse_space, probe_chooser, sample

    space = parse_space({"model.layers": [
        {"Backbone": {"name": {"type": "categorical", "choices": ["tf_efficientnet_lite0", "mobilenetv3_large_100",
                                                                  "resnet18"]},
                      "weights": "imagenet", "trainable": {"type": "categorical", "choices": ["none", "last:2"]}}},
        *HEAD]})
    counts = {}
    for mode in ("low", "mid", "high"):
        _, layers = sample(space, probe_chooser(mode))
        problem, counts[layers[0]["Backbone"]["name"]] = check_feasible(layers, DataInfo((3, 224, 224), 2),
                                                                       "multiclass", None)
        assert problem is None
    assert counts == {"tf_efficientnet_lite0": 3_373_570, "mobilenetv3_large_100": 4_204_594,
                      "resnet18": 11_177_538}
    assert blocked_network == []
