"""Every spec mistake gives one clean SpecError: where, the shape there, the value, the fix."""

from __future__ import annotations

import pytest

from autolit.errors import UserError
from autolit.modules import SpecError, count_parameters, resolve_spec

MNIST = (1, 28, 28)
CONV = {"Conv2d": {"out_channels": 8, "kernel_size": 3}}
FLAT_HEAD = [{"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}]

# (spec, input shape, expected path, regex the message must match)
CASES = {
    "unknown layer": (
        [CONV, {"ReLU": {}}, {"Conv3d": {"out_channels": 8}}], MNIST, "model.layers[2]",
        r"^unknown layer 'Conv3d' at model\.layers\[2\] \(did you mean 'Conv2d'\?\); "
        r"valid layers: AdaptiveAvgPool2d, .*Conv2d, .*Residual, .*Tanh$"),
    "wrong case": ([{"relu": {}}], MNIST, "model.layers[0]", r"did you mean 'ReLU'\?"),
    "unknown argument": (
        [{"Conv2d": {"out_channel": 8, "kernel_size": 3}}], MNIST, "model.layers[0].Conv2d.out_channel",
        r"unknown argument 'out_channel' for Conv2d \(did you mean 'out_channels'\?\); "
        r"valid arguments: in_channels, out_channels, kernel_size, stride, padding"),
    "factory argument": ([{"Linear": {"out_features": 2, "device": "cuda"}}], (4,),
                         "model.layers[0].Linear.device", r"unknown argument 'device' for Linear"),
    "missing argument": ([{"Conv2d": {"out_channels": 8}}], MNIST, "model.layers[0].Conv2d",
                         r"Conv2d needs kernel_size; fix: add kernel_size: 3"),
    "Linear on 4-D input": (
        [CONV, {"ReLU": {}}, {"Linear": {"out_features": 10}}], MNIST,
        "model.layers[2].Linear.in_features",
        r"Linear needs flat input \(B, features\) but the input there is \(B, 8, 26, 26\); "
        r"fix: add Flatten before Linear"),
    "Conv2d after Flatten": (
        [{"Flatten": {}}, CONV], MNIST, "model.layers[1].Conv2d",
        r"Conv2d needs \(B, C, H, W\) input but the input there is \(B, 784\); "
        r"fix: move Conv2d before Flatten"),
    "kernel larger than input": (
        [CONV, {"MaxPool2d": {"kernel_size": 8}}, {"Conv2d": {"out_channels": 8, "kernel_size": 5}}],
        MNIST, "model.layers[2].Conv2d",
        r"kernel_size 5 is larger than its input \(8, 3, 3\) \(padding 0\); fix: remove a pooling "
        r"layer before it, add padding, or use a smaller kernel_size"),
    "pool on 1x1": ([{"MaxPool2d": {"kernel_size": 2}}] * 6, MNIST, "model.layers[4].MaxPool2d",
                    r"kernel_size 2 is larger than its input \(1, 1, 1\)"),
    "zero width": ([{"Conv2d": {"out_channels": 0, "kernel_size": 3}}], MNIST,
                   "model.layers[0].Conv2d.out_channels",
                   r"must be a positive integer, got 0; fix: e\.g\. out_channels: 32"),
    "negative width": ([{"Flatten": {}}, {"Linear": {"out_features": -4}}], MNIST,
                       "model.layers[1].Linear.out_features", r"must be a positive integer, got -4"),
    "wrong type": ([{"Conv2d": {"out_channels": "abc", "kernel_size": 3}}], MNIST,
                   "model.layers[0].Conv2d.out_channels", r"must be a positive integer, got 'abc'"),
    "bool as width": ([{"Flatten": {}}, {"Linear": {"out_features": True}}], MNIST,
                      "model.layers[1].Linear.out_features", r"must be a positive integer, got True"),
    "bad kernel list": ([{"Conv2d": {"out_channels": 2, "kernel_size": [3, 0]}}], MNIST,
                        "model.layers[0].Conv2d.kernel_size",
                        r"must be a positive integer or a list of them, got \[3, 0\]"),
    "bad padding string": ([{"Conv2d": {"out_channels": 2, "kernel_size": 3, "padding": "full"}}],
                           MNIST, "model.layers[0].Conv2d.padding", r"'same' or 'valid', got 'full'"),
    "dropout out of range": ([{"Dropout": {"p": 1.5}}], MNIST, "model.layers[0].Dropout.p",
                             r"must be a number in \[0, 1\], got 1\.5"),
    "n_labels typo": ([{"Flatten": {}}, {"Linear": {"out_features": "n_label"}}], MNIST,
                      "model.layers[1].Linear.out_features",
                      r"unknown value 'n_label' \(did you mean n_labels\?\); fix: write out_features: n_labels"),
    "auto on a free width": ([{"Flatten": {}}, {"Linear": {"out_features": "auto"}}], MNIST,
                             "model.layers[1].Linear.out_features", r"'auto' cannot be resolved"),
    "explicit width disagrees": (
        [{"Conv2d": {"in_channels": 3, "out_channels": 8, "kernel_size": 3}}], MNIST,
        "model.layers[0].Conv2d.in_channels",
        r"is 3 but the input there has shape \(1, 28, 28\), which needs 1; fix: omit in_channels"),
    "two keys in one entry": ([{"Conv2d": {"out_channels": 8, "kernel_size": 3}, "ReLU": {}}], MNIST,
                              "model.layers[0]",
                              r"each layer must be a one-key map like \{Conv2d: .*fix: write one layer per list item"),
    "bare string entry": ([CONV, "ReLU"], MNIST, "model.layers[1]", r"one-key map .*got 'ReLU'"),
    "arguments not a map": ([{"Dropout": 0.5}], MNIST, "model.layers[0].Dropout",
                            r"arguments must be a map, got 0\.5; fix: write Dropout: \{arg: value\}"),
    "empty spec": ([], MNIST, "model.layers", r"must be a non-empty list of layers"),
    "spec not a list": ({"Conv2d": {}}, MNIST, "model.layers", r"must be a non-empty list"),
    "residual changes shape": (
        [CONV, {"Residual": {"layers": [{"Conv2d": {"out_channels": 16, "kernel_size": 3}}]}}], MNIST,
        "model.layers[1].Residual",
        r"its layers change the shape from \(8, 26, 26\) to \(16, 24, 24\), but x \+ f\(x\) needs "
        r"them equal; fix: keep the channel count \(8\), use padding: same"),
    "residual bad argument": ([{"Residual": {"layers": [{"ReLU": {}}], "scale": 2}}], MNIST,
                              "model.layers[0].Residual",
                              r"takes exactly one argument, layers .*unknown: scale"),
    "error inside residual": (
        [{"Residual": {"layers": [{"ReLU": {}}, {"Conv2D": {}}]}}], MNIST,
        "model.layers[0].Residual.layers[1]", r"unknown layer 'Conv2D' at model\.layers\[0\]\.Residual\.layers\[1\]"),
    "inplace inside residual": (
        [CONV, {"Residual": {"layers": [{"ReLU": {"inplace": True}}]}}], MNIST,
        "model.layers[1].Residual.layers[0].ReLU.inplace",
        r"inplace: true inside a Residual can overwrite the block's input .*fix: remove inplace"),
    "constructor refuses": ([{"GroupNorm": {"num_groups": 3}}], (4, 2, 2), "model.layers[0].GroupNorm",
                            r"cannot build GroupNorm .*num_channels \(4\) must be divisible by num_groups \(3\)"),
    "flatten eats batch": ([{"Flatten": {"start_dim": 0}}], MNIST, "model.layers[0].Flatten",
                           r"must keep the batch dimension .*start_dim >= 1"),
    "null conv stride": ([{"Conv2d": {"out_channels": 2, "kernel_size": 3, "stride": None}}], MNIST,
                         "model.layers[0].Conv2d",
                         r"Conv2d fails on input \(1, 28, 28\): an argument has a type it does not take "
                         r"\(conv2d\(\) got .*'stride': None"),
    "GELU approximate not a string": ([{"GELU": {"approximate": 3}}], MNIST, "model.layers[0].GELU",
                                      r"GELU fails on input \(1, 28, 28\): .*approximate' must be str"),
    "flatten start_dim out of range": ([{"Flatten": {"start_dim": 5}}], MNIST, "model.layers[0].Flatten",
                                       r"Flatten fails on input \(1, 28, 28\): Dimension out of range"),
    "3 kernel sizes for Conv2d": ([{"Conv2d": {"out_channels": 2, "kernel_size": [3, 3, 3]}}], MNIST,
                                  "model.layers[0].Conv2d.kernel_size",
                                  r"a list needs one value per spatial dimension of the input \(2\), "
                                  r"got \[3, 3, 3\]; fix: e\.g\. kernel_size: \[3, 3\]"),
    "3 paddings for Conv2d": ([{"Conv2d": {"out_channels": 2, "kernel_size": 3, "padding": [1, 1, 1]}}],
                              MNIST, "model.layers[0].Conv2d.padding", r"one value per spatial dimension"),
    "2 strides for Conv1d": ([{"Conv1d": {"out_channels": 2, "kernel_size": 3, "stride": [1, 1]}}],
                             (1, 28), "model.layers[0].Conv1d.stride", r"dimension of the input \(1\)"),
    "3 dilations for MaxPool2d": ([{"MaxPool2d": {"kernel_size": 2, "dilation": [1, 1, 1]}}], MNIST,
                                  "model.layers[0].MaxPool2d.dilation", r"one value per spatial dimension"),
    "return_indices": ([{"MaxPool2d": {"kernel_size": 2, "return_indices": True}}], MNIST,
                       "model.layers[0].MaxPool2d.return_indices", r"must be false"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_spec_error(case: str) -> None:
    spec, shape, path, message = CASES[case]
    with pytest.raises(SpecError, match=message) as err:
        resolve_spec(spec, shape, 10)
    assert err.value.path == path
    assert path in str(err.value)
    assert "\n" not in str(err.value)  # one line: the CLI prints it as `error: ...`


def test_spec_error_is_a_user_error() -> None:
    assert issubclass(SpecError, UserError)


def test_prefix_names_the_config_place() -> None:
    with pytest.raises(SpecError, match=r"^search\.layers\[0\]\.Conv2d\.out_channels: "):
        resolve_spec([{"Conv2d": {"out_channels": 0, "kernel_size": 3}}], MNIST, 2,
                     prefix="search.layers")


@pytest.mark.parametrize(("shape", "message"), [
    (None, r"model\.input_shape: must be a list of positive integers like \[1, 28, 28\].*got None"),
    ([1, 0, 28], r"got \[1, 0, 28\]"), ("1x28x28", r"got '1x28x28'")])
def test_bad_input_shape(shape: object, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        resolve_spec(FLAT_HEAD, shape, 10)  # type: ignore[arg-type]


def test_bad_n_labels() -> None:
    with pytest.raises(SpecError, match=r"model\.n_labels: must be a positive integer, got 0"):
        resolve_spec(FLAT_HEAD, MNIST, 0)


def test_count_parameters_reports_spec_errors_too() -> None:
    with pytest.raises(SpecError, match="add Flatten before Linear"):
        count_parameters([{"Linear": {"out_features": 3}}], MNIST, 10)
