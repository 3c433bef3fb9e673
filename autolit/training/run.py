"""Fit a built CLI, test its best checkpoint, log the final hparams: what a run leaves behind.

:func:`run_fit` is the library entry (a config dict in, a :class:`FitResult` out): the search's
trials call it; ``python -m autolit.fit`` calls :func:`fit_and_test` on the CLI it parsed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L

from autolit.datamodules import StoreDataModule
from autolit.training.cli import AutoLitCLI, build_cli
from autolit.training.runinfo import final_hparams, resolved_config


@dataclass
class FitResult:
    """What a finished fit leaves behind."""

    metrics: dict[str, float]
    best_checkpoint: Path | None
    run_dir: Path
    resolved_config: dict[str, Any] = field(default_factory=dict)


def fit_and_test(cli: AutoLitCLI, *, test: bool = True) -> FitResult:
    """Fit, then validate and test the best checkpoint; log final hparams with their metrics."""
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    _interruptible(trainer, trainer.fit, model, datamodule=data, ckpt_path=cli.config.get("ckpt_path"),
                   **_weights_only(trainer.fit))
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    metrics = dict(cli.best_val.metrics)
    if test:
        for result in _interruptible(trainer, trainer.test, model, datamodule=data, ckpt_path=best or None,
                                     verbose=False, **_weights_only(trainer.test)):
            metrics.update({k: float(v) for k, v in result.items()})
        if model.hparams.task == "regression":
            metrics.update(mean_baseline(data))
    for logger in trainer.loggers:
        # "hparams/" keeps these step-0 points off the training curves; the hparams tab shows them.
        logger.log_hyperparams(final_hparams(cli.config.as_dict(), model),
                               {f"hparams/{k}": v for k, v in metrics.items()})
        logger.save()
    return FitResult(metrics, Path(best) if best else None, Path(trainer.log_dir),
                     resolved_config(cli.config.as_dict(), model, data))


def _weights_only(trainer_fn: Callable[..., Any]) -> dict[str, bool]:
    """``weights_only=True`` for loading ``ckpt_path`` where this Lightning takes it (2.6 does; older
    ones load with torch's default, True since torch 2.6)."""
    return {"weights_only": True} if "weights_only" in inspect.signature(trainer_fn).parameters else {}


def _interruptible(trainer: L.Trainer, trainer_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``trainer.fit``/``test`` so that an interrupt (Ctrl-C, a search worker's SIGTERM) stays a
    KeyboardInterrupt: ``autolit.fit`` exits 130 with one line, and Optuna fails the trial.

    Since 2.4 (Lightning PR #19976) the Trainer ends its graceful shutdown with ``exit(1)``: a
    SystemExit, which would exit fit with 1 and which Optuna's trial loop does not catch (the trial
    stayed RUNNING). Before that it returned with ``trainer.interrupted`` set: no longer supported.
    """
    try:
        return trainer_fn(*args, **kwargs)
    except SystemExit:
        if not trainer.interrupted:
            raise
        raise KeyboardInterrupt from None


def mean_baseline(data: StoreDataModule) -> dict[str, float]:
    """Test MAE / RMSE of always predicting the train mean: what a regression model must beat."""
    train, test = data.targets("train"), data.targets("test")
    if len(train) == 0 or len(test) == 0:
        return {}
    error = test - train.mean()
    return {"test/mae_mean_baseline": float(abs(error).mean()),
            "test/rmse_mean_baseline": float((error ** 2).mean() ** 0.5)}


def run_fit(config: dict[str, Any], *, run_dir: str | Path | None = None, callbacks: Sequence[L.Callback] = (),
            test: bool = True, progress: bool = True) -> FitResult:
    """Run one fit from a config dict (what a YAML fit config holds); used by the search driver."""
    cli = build_cli(dict(config), run_dir=run_dir, extra_callbacks=callbacks, progress=progress)
    return fit_and_test(cli, test=test)
