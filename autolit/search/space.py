"""Search-space parsing and sampling.

A space maps dotted keys of the fit config to range specs, and ``model.layers`` to a layer spec
whose argument values may themselves be ranges; a ``repeat: {low, high}`` block makes the number
of repetitions of its ``layers`` a searched value. Sampling walks the parsed tree and asks a
*chooser* for each value, so the same code serves an Optuna trial (``trial.suggest_*``) and the
fixed probes used to check a space before any trial runs. Only parameters a trial actually has
get a name (a block repeated twice never names widths of a third repetition).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autolit.errors import UserError

RANGE_TYPES = ("float", "int", "categorical")
_RANGE_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
LAYERS_KEY = "model.layers"
PROBES = ("low", "mid", "high")
MAX_REPEAT = 64  # repetitions of one repeat block


@dataclass(frozen=True)
class Range:
    """One searched value: ``float``/``int`` between ``low`` and ``high``, or ``categorical``."""

    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any, name: str) -> Any:
        """Ask an Optuna trial for this value under ``name``."""
        if self.type == "float":
            return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step or 1)
        return trial.suggest_categorical(name, list(self.choices))

    def probe(self, mode: str) -> Any:
        """A fixed value for feasibility probes: the ``low``/``mid``/``high`` end of the range."""
        if self.type == "categorical":
            index = {"low": 0, "mid": len(self.choices) // 2, "high": len(self.choices) - 1}[mode]
            return self.choices[index]
        if mode == "low":
            return self.low
        if mode == "high":
            return self.high
        if self.type == "int":
            step = self.step or 1
            return self.low + ((self.high - self.low) // 2 // step) * step
        return (self.low * self.high) ** 0.5 if self.log else (self.low + self.high) / 2


@dataclass(frozen=True)
class Layer:
    """A layer entry ``{Name: {arg: value-or-range}}``."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Repeat:
    """A ``{repeat: {low, high}, layers: [...]}`` block."""

    count: Range
    body: list[Layer | Repeat]


@dataclass
class Space:
    """A parsed search space: scalar ranges by dotted key, and an optional layer spec."""

    scalars: dict[str, Range] = field(default_factory=dict)
    layers: list[Layer | Repeat] | None = None


Chooser = Callable[[str, Range], Any]


def is_range(value: Any) -> bool:
    """True for a mapping that is a range spec (has a ``type`` key)."""
    return isinstance(value, dict) and "type" in value


def parse_range(spec: dict, where: str) -> Range:
    """Validate one range spec; ``where`` names it in errors (e.g. ``space.data.batch_size``)."""
    kind = spec.get("type")
    if kind not in RANGE_TYPES:
        raise UserError(f"{where}.type is {kind!r}: use one of {', '.join(RANGE_TYPES)}")
    unknown = sorted(set(spec) - _RANGE_KEYS[kind])
    if unknown:
        raise UserError(
            f"{where} has unknown key(s) {unknown} for type {kind}: "
            f"valid keys are {sorted(_RANGE_KEYS[kind])}"
        )
    if kind == "categorical":
        return _parse_choices(spec, where)
    return _parse_numeric(spec, kind, where)


def _parse_choices(spec: dict, where: str) -> Range:
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise UserError(f"{where}.choices is {choices!r}: give a non-empty list, e.g. [64, 128]")
    for choice in choices:
        if choice is not None and not isinstance(choice, (bool, int, float, str)):
            raise UserError(
                f"{where}.choices contains {choice!r}: choices must be numbers, strings, "
                "booleans or null"
            )
    return Range(type="categorical", choices=tuple(choices))


def _parse_numeric(spec: dict, kind: str, where: str) -> Range:
    number = int if kind == "int" else (int, float)
    for key in ("low", "high"):
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
            raise UserError(f"{where}.{key} is {value!r}: give a finite {kind} (both low and high are needed)")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    if low > high:
        raise UserError(f"{where}: low {low} is above high {high}: swap them")
    if not isinstance(log, bool):
        raise UserError(f"{where}.log is {log!r}: use true or false")
    if log and low <= 0:
        raise UserError(f"{where}: log scale needs low > 0, got {low}: raise low or drop log")
    if step is not None:
        if log:
            raise UserError(f"{where}: step and log cannot be combined: drop one of them")
        if isinstance(step, bool) or not isinstance(step, number) or step <= 0:
            raise UserError(f"{where}.step is {step!r}: give a positive {kind}")
    if kind == "float":
        low, high = float(low), float(high)
        step = None if step is None else float(step)
    return Range(type=kind, low=low, high=high, log=log, step=step)


def parse_space(raw: Any, where: str = "space") -> Space:
    """Parse the ``space:`` mapping of a search config."""
    if raw is None:
        return Space()
    if not isinstance(raw, dict):
        raise UserError(f"{where} is a {type(raw).__name__}: give a mapping of dotted keys to ranges")
    space = Space()
    for key, value in raw.items():
        if not isinstance(key, str) or not all(part.strip() for part in key.split(".")):
            raise UserError(f"{where} has key {key!r}: keys are dotted paths like optimizer.init_args.lr")
        if key == LAYERS_KEY:
            space.layers = parse_layers(value, f"{where}.{key}")
        elif is_range(value):
            space.scalars[key] = parse_range(value, f"{where}.{key}")
        else:
            raise UserError(
                f"{where}.{key} is {value!r}: give a range like {{type: float, low: 1e-4, high: 1e-1, "
                "log: true}} (fixed values belong in the fit config or under overrides:)"
            )
    return space


def parse_layers(raw: Any, where: str) -> list[Layer | Repeat]:
    """Parse a layer list whose entries may hold ranges and ``repeat`` blocks."""
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{where} is {raw!r}: give a non-empty list of layers like - Conv2d: {{...}}")
    return [_parse_entry(entry, f"{where}[{i}]") for i, entry in enumerate(raw)]


def _parse_entry(entry: Any, where: str) -> Layer | Repeat:
    if isinstance(entry, dict) and "repeat" in entry:
        unknown = sorted(set(entry) - {"repeat", "layers"})
        if unknown or "layers" not in entry:
            raise UserError(
                f"{where} is a repeat block with keys {sorted(entry)}: it needs exactly "
                "repeat: {low, high} and layers: [...]"
            )
        return Repeat(count=_parse_count(entry["repeat"], f"{where}.repeat"),
                      body=parse_layers(entry["layers"], f"{where}.layers"))
    if not isinstance(entry, dict) or len(entry) != 1:
        raise UserError(
            f"{where} is {entry!r}: each layer is a one-key map like - Conv2d: {{out_channels: 32}} "
            "or a block {repeat: {low: 1, high: 3}, layers: [...]}"
        )
    (name, args), = entry.items()
    if args is None:
        args = {}
    if not isinstance(name, str) or not isinstance(args, dict):
        raise UserError(f"{where}.{name} is {args!r}: layer arguments are a mapping (use {{}} for none)")
    return Layer(name=name, args={k: _parse_value(v, f"{where}.{name}.{k}") for k, v in args.items()})


def _parse_count(raw: Any, where: str) -> Range:
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= MAX_REPEAT:
        return Range(type="int", low=raw, high=raw)
    if not isinstance(raw, dict) or sorted(set(raw) - {"low", "high", "step"}):
        raise UserError(f"{where} is {raw!r}: give {{low: 1, high: 3}} (optionally step) or a fixed count "
                        f"from 0 to {MAX_REPEAT}")
    count = _parse_numeric({**raw, "type": "int"}, "int", where)
    if count.low < 0:
        raise UserError(f"{where}.low is {count.low}: a repeat count cannot be negative")
    if count.high > MAX_REPEAT:
        raise UserError(f"{where}.high is {count.high}: at most {MAX_REPEAT} repetitions (each is checked on the "
                        "meta device, and such a network would not train); lower it")
    return count


def _parse_value(value: Any, where: str) -> Any:
    """An argument value: a range, a nested layer list (e.g. Residual), or a literal."""
    if is_range(value):
        return parse_range(value, where)
    if isinstance(value, list) and value and all(_looks_like_layer(v) for v in value):
        return parse_layers(value, where)
    return value


def _looks_like_layer(value: Any) -> bool:
    return isinstance(value, dict) and (len(value) == 1 or "repeat" in value) and not is_range(value)


def sample_layers(nodes: list[Layer | Repeat], choose: Chooser, prefix: str = "layers") -> list[dict]:
    """Turn parsed layer nodes into a concrete layer spec, naming each active value."""
    out: list[dict] = []
    for index, node in enumerate(nodes):
        _sample_node(node, f"{prefix}.{index}", choose, out)
    return out


def _sample_node(node: Layer | Repeat, name: str, choose: Chooser, out: list[dict]) -> None:
    if isinstance(node, Layer):
        out.append(_sample_layer(node, f"{name}.{node.name}", choose))
        return
    count = node.count.low if node.count.low == node.count.high else choose(f"{name}.repeat", node.count)
    # A layer name repeated inside the block needs its position to keep names unique.
    seen = Counter(child.name for child in node.body if isinstance(child, Layer))
    for rep in range(int(count)):
        for j, child in enumerate(node.body):
            if isinstance(child, Layer) and seen[child.name] == 1:
                out.append(_sample_layer(child, f"{name}.{rep}.{child.name}", choose))
            else:
                _sample_node(child, f"{name}.{rep}.{j}", choose, out)


def _sample_layer(layer: Layer, name: str, choose: Chooser) -> dict:
    return {layer.name: {k: _sample_value(v, f"{name}.{k}", choose) for k, v in layer.args.items()}}


def _sample_value(value: Any, name: str, choose: Chooser) -> Any:
    if isinstance(value, Range):
        return choose(name, value)
    if isinstance(value, list) and value and all(isinstance(v, (Layer, Repeat)) for v in value):
        return sample_layers(value, choose, prefix=name)
    return value


def sample(space: Space, choose: Chooser) -> tuple[dict[str, Any], list[dict] | None]:
    """Sample every scalar (by dotted key) and the layer spec (``None`` when not searched)."""
    scalars = {key: choose(key, rng) for key, rng in space.scalars.items()}
    layers = None if space.layers is None else sample_layers(space.layers, choose)
    return scalars, layers


def trial_chooser(trial: Any) -> Chooser:
    """A chooser that asks an Optuna trial (``trial.suggest_*``)."""
    return lambda name, rng: rng.suggest(trial, name)


def probe_chooser(mode: str) -> Chooser:
    """A chooser returning the ``low``/``mid``/``high`` end of every range."""
    return lambda name, rng: rng.probe(mode)
