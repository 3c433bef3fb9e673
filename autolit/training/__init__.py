"""Training: the fit CLI (LightningCLI wiring, config checks), the fit itself, and what a run records.

    from autolit.training import run_fit, build_cli
    result = run_fit(yaml.safe_load(open("configs/digits.yaml")), run_dir="runs/x")

Files: ``cli.py`` (:func:`build_cli`, the parser's one-line errors, links, checkpoints),
``run.py`` (:func:`run_fit`, :func:`fit_and_test`, :class:`FitResult`), ``runinfo.py`` (resolved
config, final hparams, resume lookup), ``callbacks.py`` (TensorBoard sample grid, confusion matrix,
best val metrics), ``config_file.py`` (what ``--config`` holds), ``config_checks.py`` (every value by
key, after parsing), ``trainer_checks.py`` (the Trainer's arguments), ``optim_checks.py``
(optimizer/scheduler arguments), ``rules.py`` (their range rules), ``schedulers.py``
(per-step schedules), ``finetune.py`` (a Backbone's preprocessing and LR groups), ``features.py``
(pixel or frozen-backbone feature matrices of a store's splits) and ``baselines.py`` (scikit-learn
models on them, ``python -m autolit.baseline``), ``validate.py`` (:func:`check_fit_config`: the
fit's checks without building anything, for the job service).
Imported by the fit entry point and the search; imports modules, datamodules and the store.
"""

from __future__ import annotations

from autolit import lazy_exports

_EXPORTS = {"build_cli": "cli", "AutoLitCLI": "cli", "RUNS": "cli",
            "run_fit": "run", "fit_and_test": "run", "FitResult": "run", "mean_baseline": "run",
            "check_fit_config": "validate"}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
