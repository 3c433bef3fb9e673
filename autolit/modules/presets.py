"""Named layer specs (``model.preset: keras_mnist | mlp | small_resnet | efficientnet_lite0 ...``).

Each preset is a function returning a plain spec (a list of one-key maps), so a preset is
exactly what a user could have written in ``model.layers``; widths are left to the resolver.
The pretrained ones are a ``Backbone`` with ImageNet weights, dropout and a linear head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from autolit.errors import UserError, suggest


def keras_mnist() -> list[dict]:
    """The Keras MNIST example CNN: 93,322 parameters on 1x28x28 with 10 labels."""
    return [
        {"Conv2d": {"out_channels": 32, "kernel_size": 3}}, {"ReLU": {}},
        {"MaxPool2d": {"kernel_size": 2}},
        {"Conv2d": {"out_channels": 64, "kernel_size": 3}}, {"ReLU": {}},
        {"MaxPool2d": {"kernel_size": 2}},
        {"Conv2d": {"out_channels": 64, "kernel_size": 3}}, {"ReLU": {}},
        {"Flatten": {}},
        {"Linear": {"out_features": 64}}, {"ReLU": {}},
        {"Linear": {"out_features": "n_labels"}},
    ]


def mlp(hidden: Sequence[int] = (256, 128), dropout: float = 0.1) -> list[dict]:
    """Flatten, then Linear → ReLU → Dropout per hidden width, then the head."""
    spec: list[dict] = [{"Flatten": {}}]
    for width in hidden:
        spec += [{"Linear": {"out_features": width}}, {"ReLU": {}}, {"Dropout": {"p": dropout}}]
    return spec + [{"Linear": {"out_features": "n_labels"}}]


def _conv_bn_relu(width: int, stride: int = 1) -> list[dict]:
    return [{"Conv2d": {"out_channels": width, "kernel_size": 3, "stride": stride, "padding": 1,
                        "bias": False}},
            {"BatchNorm2d": {}}, {"ReLU": {}}]


def small_resnet(widths: Sequence[int] = (32, 64), blocks: int = 1) -> list[dict]:
    """A stem, then per stage a strided conv and ``blocks`` residual blocks; pooled linear head.

    Each stage halves H and W after the first; a global average pool makes the head independent
    of the image size.
    """
    spec: list[dict] = []
    for i, width in enumerate(widths):
        spec += _conv_bn_relu(width, stride=1 if i == 0 else 2)  # (B, width, H / 2**i, W / 2**i)
        for _ in range(blocks):
            body = _conv_bn_relu(width) + _conv_bn_relu(width)[:2]
            spec += [{"Residual": {"layers": body}}, {"ReLU": {}}]
    return spec + [{"AdaptiveAvgPool2d": {"output_size": 1}},  # (B, C, 1, 1)
                   {"Flatten": {}},                            # (B, C)
                   {"Linear": {"out_features": "n_labels"}}]


def pretrained(name: str, dropout: float = 0.2, trainable: str = "all") -> list[dict]:
    """ImageNet ``Backbone`` ``name`` (timm / torchvision), dropout, then the head (B, F) -> (B, n_labels)."""
    return [{"Backbone": {"name": name, "weights": "imagenet", "trainable": trainable}},  # (B, F)
            {"Dropout": {"p": dropout}},
            {"Linear": {"out_features": "n_labels"}}]


# preset name -> timm architecture (the names users know; the timm spelling works too)
PRETRAINED = {
    "efficientnet_lite0": "tf_efficientnet_lite0",
    "efficientnet_b0": "efficientnet_b0",
    "mobilenetv3_small_100": "mobilenetv3_small_100",
    "mobilenetv3_large_100": "mobilenetv3_large_100",
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "convnext_nano": "convnext_nano",
}

PRESETS: dict[str, Callable[..., list[dict]]] = {
    "keras_mnist": keras_mnist,
    "mlp": mlp,
    "small_resnet": small_resnet,
    **{preset: partial(pretrained, arch) for preset, arch in PRETRAINED.items()},
}


def preset_spec(name: str) -> list[dict]:
    """The spec of preset ``name``; an unknown name lists the valid ones."""
    if name not in PRESETS:
        raise UserError(f"model.preset: unknown preset {name!r}{suggest(str(name), PRESETS)}; "
                        f"valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]()
