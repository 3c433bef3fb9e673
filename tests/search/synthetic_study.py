"""A study made with Optuna directly, shaped like a search's: a repeat block (layer count) with
per-block widths, scalars, epochs reported as intermediate values, and every outcome a search
records (complete, pruned by the pruner or as infeasible, failed with a reason, running), spread
over worker slots. Used by the report tests and scripts/bench_report.py (1,000 trials).
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

EPOCHS = 4


def _params(rng: random.Random) -> tuple[dict, dict]:
    params = {"optimizer.init_args.lr": 10 ** rng.uniform(-4, -1), "data.batch_size": rng.choice([16, 32, 64]),
              "layers.0.repeat": rng.randint(1, 3)}
    dists = {"optimizer.init_args.lr": FloatDistribution(1e-4, 1e-1, log=True),
             "data.batch_size": CategoricalDistribution([16, 32, 64]), "layers.0.repeat": IntDistribution(1, 3)}
    for block in range(params["layers.0.repeat"]):
        key = f"layers.0.{block}.Conv2d.out_channels"
        params[key] = rng.randrange(8, 65, 8)
        dists[key] = IntDistribution(8, 64, step=8)
    params["layers.3.Linear.out_features"] = rng.randint(32, 256)
    dists["layers.3.Linear.out_features"] = IntDistribution(32, 256)
    return params, dists


def _score(params: dict) -> float:
    lr = math.log10(params["optimizer.init_args.lr"])
    return 0.98 - 0.05 * (lr + 2.3) ** 2 + 0.004 * params["layers.0.repeat"]


def make_study(storage: optuna.storages.BaseStorage | str | None, name: str, n: int, *, slots: int = 4,
               seed: int = 0) -> optuna.Study:
    """``n`` trials; about 60% complete, 25% pruned by the pruner, 5% infeasible, 5% failed, a few running."""
    rng = random.Random(seed)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.set_user_attr("metric", "val/acc")
    clock = [datetime(2026, 1, 1, 9, 0, 0) + timedelta(seconds=i) for i in range(slots)]
    trials = []
    for number in range(n):
        params, dists = _params(rng)
        slot = number % slots
        start = clock[slot]
        final = _score(params) + rng.gauss(0, 0.01)
        roll = rng.random()
        kind = ("running" if number >= n - min(slots, 2) else "infeasible" if roll < 0.05 else
                "fail" if roll < 0.10 else "pruned" if roll < 0.35 else "complete")
        epochs = {"complete": EPOCHS, "pruned": rng.randint(1, EPOCHS - 1), "fail": 1, "infeasible": 0,
                  "running": 2}[kind]
        curve = {e: final * (0.8 + 0.2 * (e + 1) / EPOCHS) for e in range(epochs)}
        took = timedelta(seconds=0.05 if kind == "infeasible" else 3 + 4 * epochs * rng.random())
        attrs = {"slot": f"cpu#{slot}", "worker": f"synthetic:{1000 + slot}", "n_params": rng.randint(5_000, 150_000),
                 "n_layers": 5 + 3 * params["layers.0.repeat"]}
        state = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "fail": TrialState.FAIL,
                 "infeasible": TrialState.PRUNED, "running": TrialState.RUNNING}[kind]
        if kind == "pruned":
            attrs.update(outcome="pruned", outcome_epoch=epochs - 1,
                         reason=f"val/acc={curve[epochs - 1]:.4g} at epoch {epochs - 1}")
        elif kind == "infeasible":
            attrs.update(outcome="infeasible", reason=f"{attrs['n_params'] * 3} parameters > study.max_params 300000")
        elif kind == "fail":
            attrs.update(outcome="error", reason="ValueError: a bug in the fit")
        trials.append(FrozenTrial(
            number=number, trial_id=number, state=state, value=final if kind == "complete" else None,
            values=None, params=params, distributions=dists, user_attrs=attrs, system_attrs={},
            intermediate_values=curve, datetime_start=start,
            datetime_complete=None if kind == "running" else start + took))
        clock[slot] = start + took + timedelta(seconds=0.2)
    study.add_trials(trials)
    return study


def journal_study(tmp_path, name: str = "s") -> optuna.Study:
    """An empty maximize study on a journal file in ``tmp_path``, as a search opens one."""
    from autolit.search.storage import open_storage

    return optuna.create_study(study_name=name, storage=open_storage(str(tmp_path / "j.log")), direction="maximize")
