"""Search-space parsing and sampling: readable names, only active params, clear errors."""

from __future__ import annotations

import optuna
import pytest

from autolit.errors import UserError
from autolit.search.space import parse_range, parse_space, probe_chooser, sample, trial_chooser
from tests.search.search_configs import SPACE


def _sample_names(space, n=20, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        scalars, layers = sample(space, trial_chooser(trial))
        out.append((trial.params, scalars, layers))
        study.tell(trial, 0.0)
    return out


def test_repeat_count_and_widths_are_named_per_repetition():
    space = parse_space(SPACE)
    for params, scalars, layers in _sample_names(space):
        reps = params["layers.0.repeat"]
        widths = sorted(k for k in params if k.endswith("Conv2d.out_channels"))
        # one width per repetition actually present: no phantom params
        assert widths == [f"layers.0.{r}.Conv2d.out_channels" for r in range(reps)]
        convs = [layer["Conv2d"] for layer in layers if "Conv2d" in layer]
        assert [c["out_channels"] for c in convs] == [params[w] for w in widths]
        assert len(layers) == 2 * reps + 2
        assert scalars["data.batch_size"] in (16, 32)
        assert 1e-4 <= scalars["optimizer.init_args.lr"] <= 1e-1


def test_repeated_layer_name_in_block_gets_its_position():
    space = parse_space({"model.layers": [
        {"repeat": {"low": 2, "high": 2}, "layers": [
            {"Conv2d": {"out_channels": {"type": "int", "low": 4, "high": 8}}},
            {"Conv2d": {"out_channels": {"type": "int", "low": 4, "high": 8}}}]}]})
    params, _, layers = _sample_names(space, n=1)[0]
    assert sorted(params) == ["layers.0.0.0.Conv2d.out_channels", "layers.0.0.1.Conv2d.out_channels",
                              "layers.0.1.0.Conv2d.out_channels", "layers.0.1.1.Conv2d.out_channels"]
    assert len(layers) == 4


def test_plain_layer_range_and_nested_residual():
    space = parse_space({"model.layers": [
        {"Linear": {"out_features": {"type": "int", "low": 8, "high": 64, "log": True}}},
        {"Residual": {"layers": [{"Linear": {"out_features": {"type": "categorical", "choices": [8, 16]}}}]}},
    ]})
    params, _, layers = _sample_names(space, n=1)[0]
    assert set(params) == {"layers.0.Linear.out_features", "layers.1.Residual.layers.0.Linear.out_features"}
    assert layers[1]["Residual"]["layers"][0]["Linear"]["out_features"] in (8, 16)


def test_probes_take_range_ends():
    space = parse_space(SPACE)
    low = sample(space, probe_chooser("low"))
    high = sample(space, probe_chooser("high"))
    assert low[0]["optimizer.init_args.lr"] == pytest.approx(1e-4)
    assert len(low[1]) == 4 and len(high[1]) == 8
    assert high[1][0]["Conv2d"]["out_channels"] == 16


@pytest.mark.parametrize("spec, match", [
    ({"type": "flaot", "low": 1, "high": 2}, r"space\.x\.type is 'flaot': use one of float, int, categorical"),
    ({"type": "float", "low": 1, "hgih": 2}, r"unknown key\(s\) \['hgih'\]"),
    ({"type": "float", "low": 2, "high": 1}, r"low 2 is above high 1: swap them"),
    ({"type": "float", "low": 0, "high": 1, "log": True}, r"log scale needs low > 0"),
    ({"type": "int", "low": 1.5, "high": 3}, r"space\.x\.low is 1\.5: give a finite int"),
    ({"type": "int", "low": 1, "high": 9, "log": True, "step": 2}, r"step and log cannot be combined"),
    ({"type": "categorical", "choices": []}, r"choices is \[\]: give a non-empty list"),
    ({"type": "categorical", "choices": [[1, 2]]}, r"choices contains \[1, 2\]"),
])
def test_bad_range_specs_name_key_and_fix(spec, match):
    with pytest.raises(UserError, match=match):
        parse_range(spec, "space.x")


@pytest.mark.parametrize("raw, match", [
    ({"optimizer.init_args.lr": 0.1}, r"space\.optimizer\.init_args\.lr is 0\.1: give a range"),
    ({"model.layers": [{"repeat": {"low": 1, "high": 2}}]}, r"repeat block .* needs exactly"),
    ({"model.layers": [{"repeat": {"low": 1, "hi": 2}, "layers": [{"ReLU": {}}]}]},
     r"space\.model\.layers\[0\]\.repeat is .*give \{low: 1, high: 3\}"),
    ({"model.layers": [{"Conv2d": {}, "ReLU": {}}]}, r"space\.model\.layers\[0\] .* one-key map"),
    ({"model.layers": [{"ReLU": 3}]}, r"layer arguments are a mapping"),
    ({"a..b": {"type": "int", "low": 1, "high": 2}}, r"keys are dotted paths"),
])
def test_bad_space_names_key(raw, match):
    with pytest.raises(UserError, match=match):
        parse_space(raw)


@pytest.mark.parametrize("bound", [float("nan"), float("inf")])
def test_a_range_bound_that_is_not_finite_is_refused(bound):
    with pytest.raises(UserError, match=r"space\.optimizer\.init_args\.lr\.high is (nan|inf): give a finite float"):
        parse_space({"optimizer.init_args.lr": {"type": "float", "low": 1e-4, "high": bound}})
