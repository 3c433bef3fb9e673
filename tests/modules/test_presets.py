"""Presets are plain specs; keras_mnist matches the Keras example's parameter count."""

from __future__ import annotations

import pytest
import torch

from autolit.errors import UserError
from autolit.modules import PRESETS, build_network, count_parameters
from autolit.modules.presets import PRETRAINED, preset_spec


def test_keras_mnist_has_93322_parameters() -> None:
    assert count_parameters(PRESETS["keras_mnist"](), (1, 28, 28), 10) == 93_322
    net = build_network(PRESETS["keras_mnist"](), (1, 28, 28), 10)
    assert sum(p.numel() for p in net.parameters()) == 93_322


def test_keras_mnist_layer_sequence() -> None:
    names = [next(iter(entry)) for entry in PRESETS["keras_mnist"]()]
    assert names == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU",
                     "Flatten", "Linear", "ReLU", "Linear"]


@pytest.mark.parametrize("name", sorted(set(PRESETS) - set(PRETRAINED)))
@pytest.mark.parametrize(("shape", "n_labels"), [((1, 28, 28), 10), ((3, 32, 32), 2), ((3, 64, 48), 1)])
def test_every_preset_builds_for_other_shapes(name: str, shape: tuple, n_labels: int) -> None:
    net = build_network(preset_spec(name), shape, n_labels).eval()
    assert net(torch.zeros(2, *shape)).shape == (2, n_labels)


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_pretrained_presets_are_an_imagenet_backbone_and_a_head(name: str) -> None:
    spec = preset_spec(name)
    assert spec[0] == {"Backbone": {"name": PRETRAINED[name], "weights": "imagenet", "trainable": "all"}}
    assert spec[-1] == {"Linear": {"out_features": "n_labels"}}
    net = build_network(spec, (3, 64, 64), 5, load_weights=False).eval()  # architecture only: no download
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 5)
    assert count_parameters(spec, (3, 64, 64), 5) == sum(p.numel() for p in net.parameters())


def test_small_resnet_uses_residual_blocks() -> None:
    assert any("Residual" in entry for entry in PRESETS["small_resnet"]())


def test_mlp_widths() -> None:
    assert count_parameters(PRESETS["mlp"](hidden=[8]), (1, 2, 2), 3) == (4 * 8 + 8) + (8 * 3 + 3)


def test_unknown_preset() -> None:
    # golden: this room's one test of a whole message, word for word (tests/errors.py)
    with pytest.raises(UserError, match=r"model\.preset: unknown preset 'keras_mnst' "
                                        r"\(did you mean 'keras_mnist'\?\); valid presets: keras_mnist, mlp, small_resnet"):
        preset_spec("keras_mnst")
