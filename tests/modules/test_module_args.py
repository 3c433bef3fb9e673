"""AutoLitModule refuses bad arguments at construction, with one-line UserErrors."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from autolit.errors import UserError
from autolit.modules import AutoLitModule, SpecError

SHAPE = [1, 8, 8]
TINY = [{"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}]


def make(**kwargs: Any) -> AutoLitModule:
    args: dict[str, Any] = {"layers": TINY, "n_labels": 3, "input_shape": SHAPE} | kwargs
    return AutoLitModule(**args)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"task": "multi"}, r"^model\.task: unknown task 'multi' \(did you mean 'multiclass'\?\); "
                        r"valid tasks: multiclass, binary, regression$"),
    ({"task": "segmentation"}, r"valid tasks: multiclass, binary, regression"),
    ({"loss": "cross-entropy"}, r"^model\.loss: unknown loss 'cross-entropy' \(did you mean "
                                r"'cross_entropy'\?\); valid losses for task multiclass: cross_entropy$"),
    ({"loss": "mse"}, r"loss 'mse' does not fit task multiclass; valid losses for task multiclass"),
    ({"task": "regression", "loss": "l1"}, r"valid losses for task regression: mse, huber"),
    ({"label_smoothing": 1.0}, r"model\.label_smoothing: 1\.0 is not valid .*must be a number in \[0, 1\)"),
    ({"label_smoothing": -0.1}, r"model\.label_smoothing: -0\.1 "),
    ({"label_smoothing": "0.1"}, r"model\.label_smoothing: '0\.1' "),
    ({"task": "regression", "label_smoothing": 0.1}, r"task regression has no labels to smooth"),
    ({"class_weights": [1.0, 2.0]}, r"model\.class_weights has 2 values but there are 3 labels; "
                                    r"fix: give one weight per label"),
    ({"class_weights": [1.0, -1.0, 1.0]}, r"model\.class_weights: \[1\.0, -1\.0, 1\.0\] .*must be finite numbers >= 0"),
    ({"class_weights": 2.0}, r"model\.class_weights: 2\.0 .*must be a list of 3 numbers"),
    ({"task": "regression", "class_weights": [1.0]}, r"task regression has no classes"),
    ({"task": "regression", "loss": "huber", "huber_delta": 0}, r"model\.huber_delta: 0 .*must be a finite number > 0"),
    ({"task": "binary", "n_labels": 5}, r"model\.n_labels is 5 but task binary needs exactly 2 labels; "
                                        r"fix: use task: multiclass"),
    ({"n_labels": None}, r"model\.n_labels must be an integer >= 2 for task multiclass, got None"),
    ({"n_labels": 1}, r"got 1; fix: pass the data's n_labels"),
    ({"label_names": ["a", "b"]}, r"model\.label_names has 2 names but n_labels is 3"),
    ({"input_shape": None}, r"model\.input_shape is not set; fix: pass \[C, H, W\]"),
    ({"preset": "mlp"}, r"^model: both layers and preset \('mlp'\) are set; fix: keep one of them$"),
    ({"layers": None}, r"model: neither layers nor preset is set"),
    ({"layers": [{"Flatten": {}}]}, r"model\.layers: the network outputs \(B, 64\) but task multiclass "
                                    r"needs \(B, 3\) \(3 labels\); fix: end with Linear"),
    ({"task": "regression", "layers": [{"Flatten": {}}, {"Linear": {"out_features": 4}}]},
     r"task regression needs \(B, 1\) \(one output\)"),
])
def test_bad_module_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        make(**kwargs)


def test_spec_errors_surface_with_their_path() -> None:
    with pytest.raises(SpecError, match=r"model\.layers\[1\]\.Linear\.out_features: unknown value 'n_label'"):
        make(layers=[{"Flatten": {}}, {"Linear": {"out_features": "n_label"}}])


def test_heads_per_task() -> None:
    x = torch.zeros(4, *SHAPE)
    assert make()(x).shape == (4, 3)
    assert make(task="binary", n_labels=2)(x).shape == (4, 1)  # two labels, one logit
    assert make(task="binary", n_labels=None)(x).shape == (4, 1)
    assert make(task="regression", n_labels=None)(x).shape == (4, 1)
    assert make(n_labels=None, label_names=["a", "b", "c", "d"]).n_labels == 4


def test_hparams_hold_the_resolved_spec() -> None:
    model = AutoLitModule(preset="keras_mnist", n_labels=10, input_shape=[1, 28, 28])
    hp = model.hparams
    assert hp.preset is None and hp.loss == "cross_entropy"
    assert hp.layers[0] == {"Conv2d": {"out_channels": 32, "kernel_size": 3, "in_channels": 1}}
    assert hp.layers[-1] == {"Linear": {"out_features": 10, "in_features": 64}}
    assert sum(p.numel() for p in model.parameters()) == 93_322
    assert model.example_input_array.shape == (1, 1, 28, 28)
    rebuilt = AutoLitModule(**dict(hp))
    assert rebuilt.hparams == hp


def test_state_dict_holds_only_the_network() -> None:
    model = make(class_weights=[1.0, 2.0, 3.0])
    assert all(key.startswith("net.") for key in model.state_dict())
