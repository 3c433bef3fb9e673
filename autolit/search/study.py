"""Samplers, pruners and study bookkeeping.

Samplers and pruners are chosen by name through plain registries (never import strings from a
config); their keyword arguments are checked against the constructor's signature when the config
is loaded, so a typo stops the search before any worker starts.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from autolit.errors import UserError

SAMPLERS: dict[str, type] = {
    "TPESampler": optuna.samplers.TPESampler,
    "RandomSampler": optuna.samplers.RandomSampler,
    "QMCSampler": optuna.samplers.QMCSampler,
    "NSGAIISampler": optuna.samplers.NSGAIISampler,
}
PRUNERS: dict[str, type] = {
    "HyperbandPruner": optuna.pruners.HyperbandPruner,
    "MedianPruner": optuna.pruners.MedianPruner,
    "SuccessiveHalvingPruner": optuna.pruners.SuccessiveHalvingPruner,
    "PercentilePruner": optuna.pruners.PercentilePruner,
    "ThresholdPruner": optuna.pruners.ThresholdPruner,
    "NopPruner": optuna.pruners.NopPruner,
}
# User attribute set by the objective on a trial it finished on purpose (pruned or failed with a
# reason); a trial failed because its worker died has none, is retried and does not count.
REASON = "reason"
RETRY_OF = "retry_of"


class TrialFailed(RuntimeError):
    """A trial failed for a reason recorded in its user attributes; the study goes on."""


def check_component(spec: Any, registry: dict[str, type], where: str) -> dict:
    """Validate ``{type: Name, **kwargs}`` against ``registry`` and the constructor signature."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise UserError(f"{where} is {spec!r}: give {{type: Name, ...kwargs}}; names: {', '.join(registry)}")
    name = spec["type"]
    if name not in registry:
        raise UserError(f"{where}.type is {name!r}: valid names are {', '.join(registry)}")
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    try:
        inspect.signature(registry[name]).bind(**kwargs)
    except TypeError as exc:
        valid = [p for p in inspect.signature(registry[name]).parameters if p != "self"]
        raise UserError(f"{where}: {name} does not take {sorted(kwargs)} ({exc}); valid: {valid}") from None
    return dict(spec)


def make_sampler(spec: dict, *, seed: int, parallel: bool) -> optuna.samplers.BaseSampler:
    """Build the sampler; TPE defaults to multivariate+group and constant_liar when parallel.

    ``seed`` always wins over a ``seed`` in ``spec``: the driver derives one seed per worker from
    it (:func:`sampler_base_seed`), so parallel workers never draw the same startup samples.
    """
    kwargs = {k: v for k, v in spec.items() if k not in ("type", "seed")}
    cls = SAMPLERS[spec["type"]]
    params = inspect.signature(cls).parameters
    if "seed" in params:
        kwargs["seed"] = seed
    if cls is optuna.samplers.TPESampler:
        # group=True lets multivariate TPE handle the conditional (repeat-dependent) parameters.
        kwargs.setdefault("multivariate", True)
        kwargs.setdefault("group", True)
        kwargs.setdefault("constant_liar", parallel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(**kwargs)


def sampler_base_seed(spec: dict, study_seed: int) -> int:
    """The seed a study's workers derive theirs from: ``sampler.seed`` if given, else ``study.seed``."""
    seed = spec.get("seed")
    return study_seed if seed is None else int(seed)


def make_pruner(spec: dict) -> optuna.pruners.BasePruner:
    """Build the pruner from its registry name and keyword arguments."""
    return PRUNERS[spec["type"]](**{k: v for k, v in spec.items() if k != "type"})


def counts(trial: FrozenTrial) -> bool:
    """Whether a trial counts toward the study's trial budget (a decided outcome)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and REASON in trial.user_attrs


def n_counted(study: optuna.Study) -> int:
    """Number of trials that count toward ``n_trials``."""
    return sum(counts(t) for t in study.get_trials(deepcopy=False))


def retry_once(study: optuna.Study, trial: FrozenTrial) -> None:
    """Enqueue the params of a trial whose worker died; a retry is not retried again."""
    if RETRY_OF in trial.user_attrs or not trial.params:
        return
    study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number}, skip_if_exists=False)
