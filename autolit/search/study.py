"""Samplers, pruners and study bookkeeping.

Samplers and pruners are chosen by name through plain registries (never import strings from a
config); their keyword arguments are checked against the constructor's signature when the config
is loaded, so a typo stops the search before any worker starts.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from autolit.errors import UserError, one_line
from autolit.search.start import ORIGIN

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
# How a trial ended on purpose, as data: the objective sets OUTCOME to one of OUTCOMES, REASON to
# the human-readable detail, and OUTCOME_EPOCH where an epoch tells when (the pruner's rung). A
# trial FAILed because its worker died has no OUTCOME: it is retried once and does not count.
OUTCOME = "outcome"
OUTCOME_EPOCH = "outcome_epoch"
REASON = "reason"
RETRY_OF = "retry_of"
PRUNED_BY_PRUNER = "pruned"            # the pruner stopped it after OUTCOME_EPOCH (PRUNED)
INFEASIBLE = "infeasible"              # the spec cannot be built or is over max_params (PRUNED, no training)
CUDA_OOM = "cuda_oom"                  # (PRUNED)
NON_FINITE_LOSS = "non_finite_loss"    # (PRUNED)
NON_FINITE_METRIC = "non_finite_metric"  # (PRUNED)
ERROR = "error"                        # any other exception in the fit (FAIL, traceback in error.txt)
# A config mistake (UserError) ended it and stopped the search: the trial neither counts nor is
# retried, and a rerun with the config fixed runs it afresh (FAIL).
CONFIG_ERROR = "config_error"
OUTCOMES = (PRUNED_BY_PRUNER, INFEASIBLE, CUDA_OOM, NON_FINITE_LOSS, NON_FINITE_METRIC, ERROR, CONFIG_ERROR)


def set_outcome(trial: optuna.Trial, code: str, reason: str, epoch: int | None = None) -> None:
    """Record why ``trial`` is about to end (before it is pruned, failed or stops the search)."""
    if code not in OUTCOMES:
        raise ValueError(f"unknown trial outcome {code!r}; known: {OUTCOMES}")
    trial.set_user_attr(OUTCOME, code)
    trial.set_user_attr(REASON, one_line(reason, 500))
    if epoch is not None:
        trial.set_user_attr(OUTCOME_EPOCH, int(epoch))


def outcome_of(trial: FrozenTrial) -> str | None:
    """The trial's outcome code, or ``None`` (complete, running, waiting, or its worker died)."""
    code = trial.user_attrs.get(OUTCOME)
    return code if code in OUTCOMES else None


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

    ``seed`` always wins over a ``seed`` in ``spec``. It is a *base*: before each trial samples,
    the sampler's random state is reseeded from ``(seed, trial number)`` (:func:`seed_per_trial`).
    The storage hands out trial numbers atomically, so every worker of every launch on one storage
    draws differently (two identical commands used to derive the same seeds from the trial count
    they both read at start), while a rerun replays the same draws for the same history.
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
        return seed_per_trial(cls(**kwargs), seed)


def sampler_base_seed(spec: dict, study_seed: int) -> int:
    """The seed a study's samplers derive theirs from: ``sampler.seed`` if given, else ``study.seed``."""
    seed = spec.get("seed")
    return study_seed if seed is None else int(seed)


def trial_seed(base: int, number: int, stream: int = 0) -> int:
    """A 32-bit seed for random stream ``stream`` of trial ``number``."""
    return int(np.random.SeedSequence([base, number, stream]).generate_state(1)[0])


def fit_seed(study_seed: int, trial: FrozenTrial | optuna.Trial) -> int:
    """The ``seed_everything`` of a trial's fit: a retry replays the seed of the trial it retries."""
    return study_seed + int(trial.user_attrs.get(RETRY_OF, trial.number))


def _random_states(sampler: object) -> list[np.random.RandomState]:
    """The numpy random states a sampler (and the samplers it holds) draws from, in a fixed order."""
    found: list[np.random.RandomState] = []
    todo, seen = [sampler], set()
    while todo:
        obj = todo.pop(0)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        for name in sorted(vars(obj)):
            value = vars(obj)[name]
            if isinstance(value, optuna.samplers.BaseSampler):
                todo.append(value)
            elif hasattr(value, "rng") and isinstance(getattr(value, "rng"), np.random.RandomState):
                found.append(value.rng)  # optuna's LazyRandomState
            elif isinstance(value, np.random.RandomState):
                found.append(value)
    return found


def seed_per_trial(sampler: optuna.samplers.BaseSampler, base: int) -> optuna.samplers.BaseSampler:
    """Make ``sampler`` reseed its random states from ``(base, trial number)`` in ``before_trial``.

    Optuna calls ``before_trial`` in ``Trial.__init__`` right after the storage created the trial
    (so its number is final) and before any relative or independent sample is drawn.
    """
    original = sampler.before_trial

    def before_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        for stream, state in enumerate(_random_states(sampler)):
            state.seed(trial_seed(base, trial.number, stream))
        original(study, trial)

    sampler.before_trial = before_trial  # type: ignore[method-assign]
    return sampler


def make_pruner(spec: dict) -> optuna.pruners.BasePruner:
    """Build the pruner from its registry name and keyword arguments."""
    return PRUNERS[spec["type"]](**{k: v for k, v in spec.items() if k != "type"})


def counts(trial: FrozenTrial) -> bool:
    """Whether a trial counts toward the study's trial budget (a decided outcome)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and outcome_of(trial) not in (None, CONFIG_ERROR)


def n_counted(study: optuna.Study) -> int:
    """Number of trials that count toward ``n_trials``."""
    return sum(counts(t) for t in study.get_trials(deepcopy=False))


def retry_once(study: optuna.Study, trial: FrozenTrial) -> None:
    """Enqueue the params of a trial whose worker died; a retry is not retried again."""
    if RETRY_OF in trial.user_attrs or not trial.params:
        return
    origin = {ORIGIN: trial.user_attrs[ORIGIN]} if ORIGIN in trial.user_attrs else {}  # a retried start point
    study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number, **origin}, skip_if_exists=False)
