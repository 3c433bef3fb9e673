"""Where a study starts: the fit config's own values, and points the user already trusts.

A search must never hand over something worse than what the user had, so by default its first
trial runs the fit config's own values wherever they fall inside the space
(``study.start_from_fit_config``, Optuna's ``enqueue_trial``); ``study.enqueue`` adds more such
points. Each enqueued trial carries the user attribute ``origin`` (``fit_config`` / ``enqueued``),
which the table, the report and ``trials.json`` show.

A value of the fit config outside the space is sampled instead, with a note saying so; a point in
``study.enqueue`` that names no parameter of the space or holds a value outside its range is a
config error.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import optuna

from autolit.errors import UserError
from autolit.search.space import Range, Space, sample

ORIGIN = "origin"
FROM_FIT_CONFIG = "fit_config"
ENQUEUED = "enqueued"
MAX_SHAPES = 10_000  # repeat-count combinations tried when matching the fit config's layers


@dataclass
class StartPoint:
    """Parameter values to enqueue, where they come from, and what could not be taken."""

    params: dict[str, Any]
    origin: str
    notes: list[str] = field(default_factory=list)


def in_range(rng: Range, value: Any) -> bool:
    """Whether ``value`` is one a trial could draw from ``rng`` (type, bounds and step)."""
    if rng.type == "categorical":
        return any(type(value) is type(c) and value == c for c in rng.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if rng.type == "int" and not isinstance(value, int):
        return False
    if not rng.low <= value <= rng.high:
        return False
    if rng.step:
        steps = (value - rng.low) / rng.step
        return abs(steps - round(steps)) < 1e-9
    return True


def range_text(rng: Range) -> str:
    """``float 0.0001..0.01 (log)``, ``int 16..128 step 16``, ``one of [64, 128]``."""
    if rng.type == "categorical":
        return f"one of {list(rng.choices)}"
    extra = " (log)" if rng.log else f" step {rng.step}" if rng.step else ""
    return f"{rng.type} {rng.low}..{rng.high}{extra}"


def get_dotted(config: dict, key: str) -> tuple[bool, Any]:
    """Read ``a.b.c`` the way :func:`autolit.search.config.set_dotted` writes it (``init_args`` may be
    left out); ``(False, None)`` when the fit config does not set it."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict):
            return False, None
        if part not in node and isinstance(node.get("init_args"), dict):
            node = node["init_args"]
        if part not in node:
            return False, None
        node = node[part]
    return True, node


# --- the fit config's own point ----------------------------------------------------------------

def fit_config_point(space: Space, fit_config: dict) -> StartPoint:
    """The fit config's values as trial parameters, for every searched value that falls inside the space."""
    point = StartPoint({}, FROM_FIT_CONFIG)
    for key, rng in space.scalars.items():
        found, value = get_dotted(fit_config, key)
        if not found:
            point.notes.append(f"{key}: not set in the fit config, sampled")
        elif not in_range(rng, value):
            point.notes.append(f"{key}: the fit config's {value!r} is outside the space ({range_text(rng)}), sampled")
        else:
            point.params[key] = float(value) if rng.type == "float" else value
    if space.layers is not None:
        layers = _fit_layers(fit_config)
        matched, why = match_layers(space, layers) if layers is not None else (None, "it names no layer list")
        if matched is None:
            point.notes.append(f"model.layers: the fit config's layers do not fit the space's ({why}), sampled")
        else:
            point.params.update(matched)
    return point


def _fit_layers(config: dict) -> list | None:
    found, layers = get_dotted(config, "model.layers")
    return layers if found and isinstance(layers, list) else None


class _Free:
    """Stands for a searched value while a sampled layer spec is compared with the fit config's."""

    def __init__(self, name: str, rng: Range) -> None:
        self.name, self.rng = name, rng


class _NeedCount(Exception):
    def __init__(self, name: str, rng: Range) -> None:
        super().__init__(name)
        self.name, self.rng = name, rng


def _counts(rng: Range) -> list[int]:
    return list(range(int(rng.low), int(rng.high) + 1, int(rng.step or 1)))


def _shapes(space: Space) -> Iterator[tuple[dict[str, int], list[dict]]]:
    """Every layer spec the space can build (repeat counts fixed, other values as :class:`_Free`)."""
    todo: list[dict[str, int]] = [{}]
    tried = 0
    while todo and tried < MAX_SHAPES:
        counts = todo.pop(0)
        tried += 1

        def choose(name: str, rng: Range) -> Any:
            if name.endswith(".repeat"):
                if name not in counts:
                    raise _NeedCount(name, rng)
                return counts[name]
            return _Free(name, rng)

        try:
            _, layers = sample(Space(layers=space.layers), choose)
        except _NeedCount as need:
            todo.extend({**counts, need.name: n} for n in _counts(need.rng))
            continue
        yield counts, layers or []


def match_layers(space: Space, layers: list) -> tuple[dict[str, Any] | None, str]:
    """Parameters that make the space's ``model.layers`` equal to ``layers``, or ``None`` and why not."""
    closest = f"{len(layers)} layers, no repeat count of the space gives that many"
    for counts, shape in _shapes(space):
        if len(shape) != len(layers):
            continue
        params: dict[str, Any] = dict(counts)
        problem = _compare(shape, layers, params, "model.layers")
        if problem is None:
            return params, ""
        closest = problem
    return None, closest


def _compare(sampled: Any, given: Any, params: dict[str, Any], where: str) -> str | None:
    """``None`` when ``given`` is what ``sampled`` becomes with its free values set (recorded in
    ``params``), else the first difference."""
    if isinstance(sampled, _Free):
        if not in_range(sampled.rng, given):
            return f"{where} is {given!r}, outside {range_text(sampled.rng)}"
        params[sampled.name] = float(given) if sampled.rng.type == "float" else given
        return None
    if isinstance(sampled, list) and isinstance(given, list):
        if len(sampled) != len(given):
            return f"{where} has {len(given)} entries, the space {len(sampled)}"
        for i, (s, g) in enumerate(zip(sampled, given)):
            problem = _compare(s, g, params, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(sampled, dict) and isinstance(given, dict):
        given = {k: ({} if v is None else v) for k, v in given.items()}
        sampled = {k: ({} if v is None else v) for k, v in sampled.items()}
        if set(sampled) != set(given):
            return f"{where} has keys {sorted(given)}, the space {sorted(sampled)}"
        for key in sampled:
            problem = _compare(sampled[key], given[key], params, f"{where}.{key}")
            if problem:
                return problem
        return None
    return None if type(sampled) is type(given) and sampled == given else f"{where} is {given!r}, the space's {sampled!r}"


# --- study.enqueue -----------------------------------------------------------------------------

def check_enqueue(raw: Any, space: Space, where: str) -> tuple[dict[str, Any], ...]:
    """Validate ``study.enqueue``: a list of ``{parameter name: value}`` points inside the space."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, dict) and p for p in raw):
        raise UserError(f"{where} is {raw!r}: give a list of points like - {{optimizer.init_args.lr: 0.001, "
                        "data.batch_size: 64}}")
    return tuple(_check_point(dict(p), space, f"{where}[{i}]") for i, p in enumerate(raw))


def _check_point(point: dict[str, Any], space: Space, where: str) -> dict[str, Any]:
    names: dict[str, Range] = {}

    def choose(name: str, rng: Range) -> Any:
        names[name] = rng
        return point[name] if name in point and in_range(rng, point[name]) else rng.probe("high")

    sample(space, choose)
    for key, value in point.items():
        if key not in names:
            valid = ", ".join(sorted(names)) or "none (the space is empty)"
            raise UserError(f"{where}: {key!r} is not a parameter of the space (with these repeat counts): "
                            f"use one of {valid}")
        if not in_range(names[key], value):
            raise UserError(f"{where}.{key} is {value!r}, outside the space ({range_text(names[key])}): "
                            "give a value inside it, or widen the space")
    return {k: float(v) if names[k].type == "float" else v for k, v in point.items()}


# --- into the study ----------------------------------------------------------------------------

def start_points(space: Space, fit_config: dict, *, from_fit_config: bool,
                 enqueue: tuple[dict[str, Any], ...]) -> list[StartPoint]:
    """The points a study runs first, in order: the fit config's, then ``study.enqueue``'s."""
    points = [fit_config_point(space, fit_config)] if from_fit_config else []
    return points + [StartPoint(dict(p), ENQUEUED) for p in enqueue]


def enqueue_points(study: optuna.Study, points: list[StartPoint]) -> list[str]:
    """Enqueue each point not already in the study; return one line per point saying what runs."""
    lines = []
    existing = {_key(t.system_attrs.get("fixed_params") or t.params) for t in study.get_trials(deepcopy=False)}
    for point in points:
        if not point.params:
            lines.append(f"{point.origin}: no value of it is inside the space ({'; '.join(point.notes)})")
            continue
        if _key(point.params) in existing:
            continue
        study.enqueue_trial(point.params, user_attrs={ORIGIN: point.origin})
        existing.add(_key(point.params))
        skipped = f"; {'; '.join(point.notes)}" if point.notes else ""
        lines.append(f"enqueued the {_label(point.origin)} ({len(point.params)} value(s)){skipped}")
    return lines


def _label(origin: str) -> str:
    return "fit config's own values" if origin == FROM_FIT_CONFIG else "point from study.enqueue"


def _key(params: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def origin_of(user_attrs: dict[str, Any]) -> str | None:
    """``fit_config`` / ``enqueued`` for a trial enqueued as a start point, else ``None``."""
    value = user_attrs.get(ORIGIN)
    return value if value in (FROM_FIT_CONFIG, ENQUEUED) else None

