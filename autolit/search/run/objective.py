"""The trial objective: sample → check on the meta device → fit → value.

Outcomes, following keras-tuner's FailedTrialError vs FatalError split:

* the pruner's verdict (``pruned``, with the epoch), an infeasible spec (``infeasible``: shapes
  collapse, wrong head, over ``study.max_params``), CUDA out of memory (``cuda_oom``), a NaN/inf
  loss or metric (``non_finite_loss`` / ``non_finite_metric``) → the trial is *pruned* (rather than
  failed, so TPE learns to avoid that region) and the study goes on;
* any other exception → the trial *fails* (``error``), its traceback in ``trial_<n>/error.txt``;
  the study goes on;
* :class:`~autolit.errors.UserError` (a config mistake, ``config_error``) → neither counted nor
  retried; it propagates and stops the search.

Each is recorded as data (:func:`autolit.search.study.set_outcome`: the code, the detail, the
epoch), which the progress lines, ``status`` and the report read.

What the fit prints (Lightning's banners, warnings) goes to ``trial_<n>/trial.log``.
"""

from __future__ import annotations

import gc
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from autolit.errors import UserError, one_line
from autolit.search import study as study_lib
from autolit.search.run.callbacks import make_pruning_callback
from autolit.search.config import SearchConfig, trial_fit_config
from autolit.search.run.devices import Slot
from autolit.search.run.feasibility import DataInfo, check_feasible, data_info_for, layers_of, task_of
from autolit.search.run.lifetime import output_to
from autolit.search.records import CHECKPOINT, N_LAYERS, N_PARAMS, RUN_DIR, SLOT, TRIAL_LOG, trial_dir
from autolit.search.space import sample, trial_chooser
from autolit.search.storage import PROCESS_ATTR, WORKER_ATTR, process_identity, worker_tag
from autolit.search.study import TrialFailed, fit_seed

FitFn = Callable[..., Any]


def make_objective(cfg: SearchConfig, slot: Slot, runs_dir: Path) -> Callable[[optuna.Trial], float]:
    """The real objective: ``autolit.training.run_fit`` on the slot's device."""
    from autolit.training import run_fit  # heavy import, only in workers

    return Objective(cfg, slot, runs_dir, fit=run_fit)


class Objective:
    """Callable run once per trial inside a worker process."""

    def __init__(self, cfg: SearchConfig, slot: Slot, runs_dir: Path, *, fit: FitFn,
                 data_info: Callable[[dict], DataInfo] = data_info_for,
                 pruning: Callable[[optuna.Trial, str], Any] = make_pruning_callback,
                 log_output: bool = True) -> None:
        self.cfg, self.slot, self.runs_dir = cfg, slot, runs_dir
        self.fit, self.data_info, self.pruning = fit, data_info, pruning
        self.log_output = log_output  # the fit's stdout/stderr into trial_<n>/trial.log

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker_tag())
        trial.set_user_attr(PROCESS_ATTR, process_identity())
        trial.set_user_attr(SLOT, self.slot.label)
        try:
            config = self.trial_config(trial)
            # Absolute: status, report and export read it back from the storage, from any folder.
            run_dir = trial_dir(self.runs_dir, trial.study.study_name, trial.number).absolute()
            trial.set_user_attr(RUN_DIR, str(run_dir))
            return self._fit(trial, config, run_dir)
        except UserError as exc:  # stops the search; the trial's line and row say why it failed
            study_lib.set_outcome(trial, study_lib.CONFIG_ERROR, str(exc))
            raise
        finally:
            _free_memory()

    def trial_config(self, trial: optuna.Trial) -> dict:
        """Sample the trial's values and check the spec before any device time is spent."""
        scalars, layers = sample(self.cfg.space, trial_chooser(trial))
        extra = {"seed_everything": fit_seed(self.cfg.study.seed, trial), "trainer.accelerator": self.slot.accelerator, "trainer.devices": 1}
        config = trial_fit_config(self.cfg, scalars, layers, extra)
        spec = layers_of(config)
        if spec is not None:
            trial.set_user_attr(N_LAYERS, len(spec))
            info = self.data_info(config)
            problem, n_params = check_feasible(spec, info, task_of(config), self.cfg.study.max_params)
            if n_params is not None:
                trial.set_user_attr(N_PARAMS, n_params)
            if problem:
                _prune(trial, study_lib.INFEASIBLE, problem)
        return config

    def _fit(self, trial: optuna.Trial, config: dict, run_dir: Path) -> float:
        pruning = self.pruning(trial, self.cfg.study.metric)
        with output_to(run_dir / TRIAL_LOG, enabled=self.log_output):
            try:
                result = self.fit(config, run_dir=run_dir, callbacks=[pruning], test=False, progress=False)
            except (UserError, optuna.TrialPruned):
                raise
            except Exception as exc:  # noqa: BLE001 - every trial-level fault is recorded, see module doc
                _handle_fault(trial, exc, run_dir)
                raise  # not reached: _handle_fault raises
        if pruning.pruned_at is not None:
            _prune(trial, study_lib.PRUNED_BY_PRUNER, pruning.verdict(), epoch=pruning.pruned_at)
        if getattr(result, "best_checkpoint", None):
            trial.set_user_attr(CHECKPOINT, str(result.best_checkpoint))
        return self._value(trial, result.metrics)

    def _value(self, trial: optuna.Trial, metrics: dict[str, float]) -> float:
        metric = self.cfg.study.metric
        if metric not in metrics:
            raise UserError(
                f"study.metric {metric!r} was not logged by the fit (logged: {sorted(metrics)}): "
                f"set study.metric in {self.cfg.path} to one of them"
            )
        value = float(metrics[metric])
        trial.set_user_attr("metrics", {k: float(v) for k, v in metrics.items()})
        if not math.isfinite(value):
            _prune(trial, study_lib.NON_FINITE_METRIC, f"{metric}={value}")
        return value


def _prune(trial: optuna.Trial, code: str, detail: str, epoch: int | None = None) -> None:
    study_lib.set_outcome(trial, code, detail, epoch)
    raise optuna.TrialPruned(f"{code}: {detail}")


def _handle_fault(trial: optuna.Trial, exc: Exception, run_dir: Path) -> None:
    """Record a trial-level fault and turn it into a pruned or failed trial."""
    import torch

    from autolit.modules import NonFiniteLossError

    detail = one_line(str(exc), 300)
    code = None
    if isinstance(exc, torch.OutOfMemoryError):
        code = study_lib.CUDA_OOM
    elif isinstance(exc, NonFiniteLossError):
        code = study_lib.NON_FINITE_LOSS
    else:
        text = "".join(traceback.format_exception(exc))
        print(text, file=sys.stderr, flush=True)  # into trial.log, with what led to it
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "error.txt").write_text(text)
    # The fit's finished frames still hold the model, optimizer state and batches, and the exception
    # keeps them alive until Optuna drops it; clear them so Objective.__call__ frees that memory.
    traceback.clear_frames(exc.__traceback__)
    if code is not None:
        _prune(trial, code, detail)
    study_lib.set_outcome(trial, study_lib.ERROR, f"{type(exc).__name__}: {detail}")
    raise TrialFailed(f"trial {trial.number} failed: {type(exc).__name__}: {detail}") from exc


def _free_memory() -> None:
    """Drop what a trial left behind so the next one starts from the same footprint."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
