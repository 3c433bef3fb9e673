"""The model a study hands over: its best trial's refit (:mod:`autolit.search.refit`) when there is
one, else the checkpoint the best trial left; and its export.

``python -m autolit.search best --export DIR`` and ``python -m autolit.export --storage S
--study-name X`` are one route: both call :func:`export_best`, so they pick the same checkpoint
and export it with the same defaults and checks.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial

from autolit.errors import UserError
from autolit.search.records import CHECKPOINT, RUN_DIR, best_trial, load_existing_study


def trial_checkpoint(trial: FrozenTrial) -> Path:
    """The best checkpoint a trial recorded (user attribute ``best_checkpoint``)."""
    path = trial.user_attrs.get(CHECKPOINT)
    if not path:
        raise UserError(f"trial {trial.number} recorded no checkpoint (user attr {CHECKPOINT}): "
                        "it ran without checkpointing; rerun it with autolit.fit")
    if not Path(path).is_file():
        raise UserError(f"trial {trial.number}'s checkpoint {path} is missing: run `best` on the host "
                        "that ran the trial, or copy its runs/search folder here")
    return Path(path)


def best_model(study: optuna.Study) -> tuple[Path, str]:
    """The checkpoint a study hands over and what it is: the refit of its best trial when there is
    one (``the refit of trial 3 (test/acc 0.9951)``), else the trial's own (``trial 3 (val/acc 0.9884)``)."""
    from autolit.search.refit import refit_of

    best = best_trial(study)
    if best is None:
        raise UserError(f"study {study.study_name} has no completed trial yet; fix: run the search first, "
                        "or export a checkpoint path")
    metric = study.user_attrs.get("metric", "value")
    refit = refit_of(study)
    if refit and refit.get("checkpoint") and Path(refit["checkpoint"]).is_file():
        tests = ", ".join(f"{k} {v:.4g}" for k, v in sorted(refit["metrics"].items()) if k.startswith("test/"))
        return Path(refit["checkpoint"]), f"the refit of trial {best.number} ({tests or 'untested'})"
    return trial_checkpoint(best), f"trial {best.number} ({metric} {best.value:.4g})"


def export_best(storage: str, study_name: str, out: str | Path, formats: Sequence[str] | str | None = None,
                **options: Any) -> Any:
    """Export the model :func:`best_model` picks into ``out`` with :func:`autolit.deploy.export_checkpoint`
    (``options``: its ``quantize``, ``store``, ``tolerance``); return its report."""
    from autolit.deploy import DEFAULT_FORMATS, export_checkpoint

    ckpt, what = best_model(load_existing_study(storage, study_name))
    print(f"study {study_name}: exporting {what} from {ckpt}", flush=True)
    return export_checkpoint(ckpt, out, formats or DEFAULT_FORMATS, **options)


def trial_config(trial: FrozenTrial, attrs: dict[str, Any]) -> tuple[dict | None, str]:
    """The trial's resolved config made runnable (:func:`runnable`) and where it came from, or
    ``None`` and why not; ``attrs`` are the study's user attributes. ``best.yaml`` and the refit read it."""
    run_dir = Path(str(trial.user_attrs.get(RUN_DIR, "")))
    from autolit.search.config import base_fit_config, load_search_config, trial_fit_config
    from autolit.search.space import sample
    from autolit.search.study import fit_seed

    base: dict = {}
    search_path = attrs.get("search_config")
    cfg = None
    if search_path and Path(search_path).is_file():
        try:
            cfg = load_search_config(search_path)
            base = base_fit_config(cfg)  # the trials' trainer settings: overrides applied
        except UserError:  # edited or moved since: the trial folder may still have its config
            cfg = None
    resolved = run_dir / "resolved.yaml"
    if trial.user_attrs.get(RUN_DIR) and resolved.is_file():
        try:
            config = yaml.safe_load(resolved.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):  # damaged: rebuild it from the search config
            config = None
        if isinstance(config, dict):
            return runnable(config, base, attrs.get("cwd")), str(resolved)
    if cfg is None:
        folder = f"the trial folder {run_dir}" if trial.user_attrs.get(RUN_DIR) else "no trial folder (not recorded)"
        return None, f"{folder} and the search config {search_path or '(not recorded)'} are not on this host"
    try:
        scalars, layers = sample(cfg.space, lambda name, rng: trial.params[name])
    except KeyError as exc:
        return None, f"{search_path} no longer matches the trial's parameters (no {exc})"
    config = trial_fit_config(cfg, scalars, layers, {"seed_everything": fit_seed(cfg.study.seed, trial)})
    return runnable(config, base, attrs.get("cwd")), f"{search_path} with the trial's parameters"


def runnable(config: dict, fit_config: dict, cwd: str | None) -> dict:
    """A trial's config made runnable by ``autolit.fit`` from any folder, without touching the trial."""
    config = copy.deepcopy(config)
    trainer = config.setdefault("trainer", {})
    for key in ("logger", "default_root_dir"):
        trainer.pop(key, None)
    for key in ("accelerator", "devices"):
        original = (fit_config.get("trainer") or {}).get(key)
        if original is None:
            trainer.pop(key, None)
        else:
            trainer[key] = original
    data = config.get("data")
    args = data.get("init_args", data) if isinstance(data, dict) else None
    store = args.get("store") if isinstance(args, dict) else None
    if cwd and isinstance(store, str) and not Path(store).is_absolute():
        args["store"] = str(Path(cwd) / store)
    return config
