"""Load and validate a search config, and apply a trial's values to the fit config.

Shape (see docs/search.md)::

    fit_config: ../digits.yaml          # path relative to this file
    study: {name: digits, direction: maximize, metric: val/acc, n_trials: 8,   # metric/direction: the task's
            sampler: {type: TPESampler}, pruner: {type: HyperbandPruner}, max_params: 200000}
    overrides: {trainer.max_epochs: 3}  # fixed values for every trial
    space: {optimizer.init_args.lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}, ...}
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autolit.errors import UserError, one_line, suggest
from autolit.search import study as study_lib
from autolit.search.space import Space, parse_space
from autolit.search.start import check_enqueue

TOP_KEYS = ("fit_config", "study", "overrides", "space")
FIT_SECTIONS = ("trainer", "model", "data", "optimizer", "lr_scheduler", "seed_everything", "ckpt_path")
DIRECTIONS = ("maximize", "minimize")
# A study.metric other than the task's monitor and without a direction: these suffixes are errors.
LOWER_IS_BETTER = ("loss", "mae", "rmse", "mse")
MAX_EPOCHS = "max_epochs"  # the refit's shorthand for trainer.max_epochs


@dataclass(frozen=True)
class StudySettings:
    """The ``study:`` section with defaults filled in (metric and direction: the task's)."""

    name: str
    direction: str = "maximize"
    metric: str = "val/acc"
    n_trials: int = 20
    timeout: float | None = None         # seconds for the whole run, refit included
    max_params: int | None = None
    seed: int = 0
    sampler: dict = field(default_factory=lambda: {"type": "TPESampler"})
    pruner: dict = field(default_factory=lambda: {"type": "HyperbandPruner"})
    heartbeat_interval: int = 60
    grace_period: int = 120
    start_from_fit_config: bool = True   # trial 0: the fit config's own values inside the space
    enqueue: tuple[dict, ...] = ()       # more points to run first, {parameter name: value}
    refit: dict | None = None            # {max_epochs: N, dotted overrides}: the best trial trained again


@dataclass
class SearchConfig:
    """A validated search config."""

    path: Path
    fit_config_path: Path
    fit_config: dict
    study: StudySettings
    space: Space
    overrides: dict[str, Any]


def read_yaml(path: Path, what: str) -> Any:
    """``yaml.safe_load`` a file; a missing, unreadable or malformed file is a :class:`UserError`."""
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist: check the path")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} {path} is not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}): "
                        "save it as UTF-8") from None
    except OSError as exc:
        raise UserError(f"{what} {path} cannot be read ({exc.strerror or exc}): check its permissions") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{what} {path} is not valid YAML: {one_line(str(exc), 10_000)}") from None


def load_search_config(path: str | Path) -> SearchConfig:
    """Read ``path``, check every key, load the fit config it names."""
    path = Path(path)
    raw = read_yaml(path, "search config")
    if not isinstance(raw, dict):
        raise UserError(f"search config {path} is not a mapping: expected keys {', '.join(TOP_KEYS)}")
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise UserError(f"search config {path}: unknown key(s) {unknown}: valid keys are {', '.join(TOP_KEYS)}")
    if not isinstance(raw.get("fit_config"), str):
        raise UserError(f"search config {path}: fit_config is missing: add fit_config: ../<name>.yaml")
    fit_path = (path.parent / raw["fit_config"]).resolve()
    fit_config = read_yaml(fit_path, f"fit_config of {path}:")
    if not isinstance(fit_config, dict):
        raise UserError(f"fit config {fit_path} is not a mapping of trainer/model/data/... sections")
    overrides = _parse_overrides(raw.get("overrides"), path)
    space = parse_space(raw.get("space"))
    for key in [*overrides, *space.scalars, *([] if space.layers is None else ["model.layers"])]:
        _check_section(key, path)
    cfg = SearchConfig(path=path, fit_config_path=fit_path, fit_config=fit_config,
                       study=StudySettings(name=path.stem), space=space, overrides=overrides)
    # The task (hence the default metric) is the one trials get: overrides may set model.task.
    cfg.study = _parse_study(raw.get("study"), path, task_of(base_fit_config(cfg)), space)
    return cfg


def _parse_overrides(raw: Any, path: Path) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise UserError(f"search config {path}: overrides must map dotted keys to values, e.g. trainer.max_epochs: 3")
    return dict(raw)


def _check_section(key: str, path: Path) -> None:
    section = key.split(".")[0]
    if section not in FIT_SECTIONS:
        raise UserError(
            f"search config {path}: key {key!r} starts with {section!r}, not a fit config section: "
            f"use one of {', '.join(FIT_SECTIONS)}"
        )


def _parse_study(raw: Any, path: Path, task_name: str, space: Space) -> StudySettings:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise UserError(f"search config {path}: study must be a mapping like {{name: x, metric: val/acc}}")
    valid = StudySettings.__dataclass_fields__
    unknown = sorted(set(raw) - set(valid))
    if unknown:
        raise UserError(f"search config {path}: unknown study key(s) {unknown}: valid keys are {', '.join(valid)}")
    values = {"name": path.stem, **{k: v for k, v in raw.items() if v is not None or k in ("timeout", "max_params")}}
    values.update(_metric_and_direction(values, path, task_name))
    if values["direction"] not in DIRECTIONS:
        raise UserError(f"search config {path}: study.direction is {values['direction']!r}: use maximize or minimize")
    if not isinstance(values["name"], str) or not values["name"].strip() or "/" in values["name"]:
        raise UserError(f"search config {path}: study.name is {values['name']!r}: give a name without '/', "
                        "e.g. digits (it names the trial folders)")
    _check_number(values, "seed", path, minimum=0, maximum=2**31 - 1)
    _check_number(values, "n_trials", path, minimum=1)
    _check_number(values, "max_params", path, minimum=1, optional=True)
    _check_number(values, "heartbeat_interval", path, minimum=1)
    _check_number(values, "grace_period", path, minimum=1)
    if values.get("timeout") is not None:
        values["timeout"] = check_timeout(values["timeout"], f"search config {path}: study.timeout")
    if "sampler" in values:
        values["sampler"] = study_lib.check_component(values["sampler"], study_lib.SAMPLERS, "study.sampler")
        _check_number(values["sampler"], "seed", path, minimum=0, maximum=2**31 - 1, optional=True, where="sampler.")
    if "pruner" in values:
        values["pruner"] = study_lib.check_component(values["pruner"], study_lib.PRUNERS, "study.pruner")
    if not isinstance(values.get("start_from_fit_config", True), bool):
        raise UserError(f"search config {path}: study.start_from_fit_config is "
                        f"{values['start_from_fit_config']!r}: give true or false")
    values["refit"] = check_refit(values.get("refit"), f"search config {path}: study.refit")
    values["enqueue"] = check_enqueue(values.get("enqueue"), space, f"search config {path}: study.enqueue")
    return StudySettings(**values)


def check_refit(raw: Any, where: str) -> dict[str, Any] | None:
    """Validate ``study.refit``: ``{max_epochs: N}`` plus dotted fit-config keys (``trainer.precision``)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise UserError(f"{where} is {raw!r}: give a mapping like {{max_epochs: 20}} (plus dotted overrides)")
    epochs = raw.get(MAX_EPOCHS)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise UserError(f"{where}.max_epochs is {epochs!r}: give a whole number of epochs >= 1")
    for key in raw:
        if key != MAX_EPOCHS and key.split(".")[0] not in FIT_SECTIONS:
            raise UserError(f"{where}: key {key!r} is neither max_epochs nor a dotted key of a fit config "
                            f"section ({', '.join(FIT_SECTIONS)})")
    return dict(raw)


def check_timeout(value: Any, where: str) -> float:
    """A search's time budget: seconds > 0 (``study.timeout`` and ``--timeout`` alike)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise UserError(f"{where} is {value!r}: give a number of seconds > 0, e.g. 1800, or leave it out")
    return float(value)


def _check_number(values: dict, key: str, path: Path, *, minimum: float, optional: bool = False,
                  kind: type | tuple = int, maximum: float = float("inf"), where: str = "") -> None:
    if key not in values or (optional and values[key] is None):
        return
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, kind) or not minimum <= value <= maximum:
        bound = f"between {minimum} and {maximum}" if maximum != float("inf") else f">= {minimum}"
        raise UserError(f"search config {path}: study.{where}{key} is {value!r}: give a number {bound}")


def _metric_and_direction(values: dict, path: Path, task_name: str) -> dict[str, str]:
    """``study.metric`` defaults to the task's monitor and must be one the task logs; ``direction``
    defaults to the task's for its monitor, else from the metric's name (``*loss``/``*mae``: minimize)."""
    from autolit.modules.tasks import get_task, logged_metrics

    task = get_task(task_name, where=f"model.task of {path}'s fit config")
    metric = values.get("metric", task.monitor)
    valid = logged_metrics(task, "val")
    if metric not in valid:
        raise UserError(f"search config {path}: study.metric is {metric!r}{suggest(str(metric), valid)}, which "
                        f"a {task.name} fit does not log: use one of {', '.join(valid)}")
    if "direction" in values:
        direction = values["direction"]
    elif metric == task.monitor:
        direction = task.direction
    else:
        direction = "minimize" if metric.rsplit("/", 1)[-1].endswith(LOWER_IS_BETTER) else "maximize"
    return {"metric": metric, "direction": direction}


def set_dotted(config: dict, key: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict, creating missing mappings.

    Like LightningCLI's ``--data.batch_size``, a key may skip the ``init_args`` level of a
    ``class_path``/``init_args`` section.
    """
    node = config
    parts = key.split(".")
    for part in parts[:-1]:
        if part not in node and isinstance(node.get("init_args"), dict):
            node = node["init_args"]
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"cannot set {key}: {part} in the fit config is {child!r}, not a mapping")
        node = child
    last = parts[-1]
    if last not in node and isinstance(node.get("init_args"), dict) and last != "init_args":
        node = node["init_args"]
    node[last] = value


def section_args(config: dict, section: str) -> dict:
    """A fit config section's arguments, under ``init_args`` when it is a ``class_path`` form."""
    node = config.get(section) or {}
    if not isinstance(node, dict):
        return {}
    return node["init_args"] if isinstance(node.get("init_args"), dict) else node


def layers_of(config: dict) -> list[dict] | None:
    """The layer spec of a fit config (``model.layers``), if any."""
    layers = section_args(config, "model").get("layers")
    return layers if isinstance(layers, list) else None


def task_of(config: dict) -> str:
    """``model.task`` (default multiclass)."""
    return str(section_args(config, "model").get("task", "multiclass"))


def base_fit_config(cfg: SearchConfig) -> dict:
    """The fit config every trial starts from: the fit config with ``overrides`` applied.

    Everything that reads the fit config outside a trial (the start-up probe, the store it builds,
    the task and its default metric) reads this, so it sees what a trial gets.
    """
    return trial_fit_config(cfg, {}, None)


def trial_fit_config(cfg: SearchConfig, scalars: dict[str, Any], layers: list[dict] | None,
                     extra: dict[str, Any] | None = None) -> dict:
    """The fit config of one trial: base config, then overrides, sampled values, ``extra``."""
    config = copy.deepcopy(cfg.fit_config)
    for key, value in {**cfg.overrides, **scalars, **(extra or {})}.items():
        set_dotted(config, key, value)
    if layers is not None:
        set_dotted(config, "model.layers", layers)
        _drop_preset(config)
    return config


def _drop_preset(config: dict) -> None:
    """A searched layer spec replaces a preset named in the fit config."""
    model = config.get("model", {})
    for node in (model, model.get("init_args", {})):
        if isinstance(node, dict):
            node.pop("preset", None)
