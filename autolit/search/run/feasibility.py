"""Meta-device checks of sampled layer specs: shapes, head width, parameter count.

Also the start-up *probe*: before any worker starts, the space is built at its low, middle and
high ends; if none of these is feasible, the mistake is most likely in the spec itself (an
unknown layer, a misspelled argument), so it is reported as a :class:`UserError` instead of
pruning every trial. Each probe's config also passes the fit's own checks of every value by key
(:func:`check_values`), so a bad override stops the search before any trial, as ``autolit.fit``
stops before training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autolit.errors import UserError, one_line
from autolit.search.config import SearchConfig, layers_of, section_args, task_of, trial_fit_config
from autolit.search.space import PROBES, probe_chooser, sample

__all__ = ["DataInfo", "check_feasible", "data_info_for", "layers_of", "probe_space", "task_of"]


@dataclass(frozen=True)
class DataInfo:
    """What the model needs to know of the data."""

    input_shape: tuple[int, ...]
    n_labels: int


def check_feasible(layers: list[dict], info: DataInfo, task: str,
                   max_params: int | None) -> tuple[str | None, int | None]:
    """Return ``(problem or None, parameter count or None)`` for one concrete spec."""
    from autolit.modules import SpecError, count_parameters, get_task, output_shape

    head = get_task(task).head_width(info.n_labels)
    try:
        out = output_shape(layers, info.input_shape, head)
        n_params = count_parameters(layers, info.input_shape, head)
    except SpecError as exc:
        return one_line(str(exc), 400), None
    if tuple(out) != (head,):
        return f"network outputs {tuple(out)} but the task needs ({head},)", n_params
    if max_params is not None and n_params > max_params:
        return f"{n_params} parameters > study.max_params {max_params}", n_params
    return None, n_params


def probe_space(cfg: SearchConfig, data_info: Callable[[dict], DataInfo]) -> dict[str, Any]:
    """Build the space at its ends; raise :class:`UserError` when no end is feasible.

    Each probe reads the data of its own trial config (overrides and sampled values applied, e.g.
    a searched ``data.image_size``), through ``data_info`` (:func:`data_info_for`: this also
    builds the store trials train on, once, before any worker starts).
    """
    problems: dict[str, Any] = {}
    for mode in PROBES:
        scalars, layers = sample(cfg.space, probe_chooser(mode))
        config = trial_fit_config(cfg, scalars, layers)
        check_values(cfg, config)
        spec = layers_of(config)
        if spec is None:
            data_info(config)
            return {}
        problem, n_params = check_feasible(spec, data_info(config), task_of(config), cfg.study.max_params)
        if problem is None:
            problems[mode] = n_params
            continue
        problems[mode] = problem
    if all(isinstance(v, str) for v in problems.values()):
        raise UserError(f"space.model.layers in {cfg.path}: no probe of the space is feasible "
                        f"(low end: {problems['low']}); fix the layer spec or widen the ranges")
    return problems


def check_values(cfg: SearchConfig, config: dict) -> None:
    """The fit's own checks of every value by key (trainer, optimizer, model, data), on a config a trial
    gets: a bad override or a space end (``trainer.accumulate_grad_batches: 0``) stops the search here,
    in one line, instead of failing every trial. The accelerator is the slot's, so it is not checked."""
    from autolit.training.config_checks import check_config

    try:
        check_config(config, machine=False)
    except UserError as exc:
        raise UserError(f"search config {cfg.path} (fit_config with overrides and space applied): {exc}") from None


_DATA_KEYS = ("store", "source", "image_size", "channels")  # what shapes depend on
_info_cache: dict[tuple, DataInfo] = {}


def data_info_for(config: dict) -> DataInfo:
    """Input shape and label count of the fit config's data, from the store's metadata.

    With a pretrained Backbone, a missing ``data.image_size``/``channels`` comes from its weights'
    config, as ``autolit.fit`` fills them (:func:`autolit.training.finetune.follow_backbone`).
    Creates the store from ``data.source`` on first use, so the parent calls it once before
    workers start (two workers importing the same store at once would fight over its lock).
    """
    from autolit.datamodules import StoreDataModule
    from autolit.modules.backbone import backbone_preprocessing

    data = dict(section_args(config, "data"))
    # as fit's follow_backbone: a given data.channels (a grey store) is what the Backbone takes
    for key, value in (backbone_preprocessing(layers_of(config), channels=data.get("channels")) or {}).items():
        if key in ("image_size", "channels") and data.get(key) is None:
            data[key] = value
    key = tuple(repr(data.get(k)) for k in _DATA_KEYS)
    if key not in _info_cache:
        args = {k: data[k] for k in _DATA_KEYS if data.get(k) is not None}
        if "store" not in args:
            raise UserError("fit config: data.store is missing: name the store folder (e.g. stores/digits)")
        dm = StoreDataModule(**args)
        _info_cache[key] = DataInfo(input_shape=tuple(dm.input_shape), n_labels=int(dm.n_labels))
    return _info_cache[key]
