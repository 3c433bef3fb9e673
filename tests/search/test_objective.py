"""One trial's objective: outcomes of a failed fit (autolit/search/run/objective.py)."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from autolit.search.run.callbacks import PruningReporter
from tests.search.search_configs import write_configs


def test_out_of_memory_trial_is_pruned_with_its_memory_released(tmp_path, monkeypatch):
    """The failed fit's frames hold the model and batches; they must be gone when memory is freed."""
    import weakref

    import torch

    from autolit.search.config import load_search_config
    from autolit.search.run import objective
    from autolit.search.run.devices import parse_devices

    held = []

    def oom_fit(config, **kwargs):
        model = torch.zeros(16)  # stands for the model, optimizer state and batches of a real fit
        held.append(weakref.ref(model))
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    alive_when_freed = []
    monkeypatch.setattr(objective, "_free_memory", lambda: alive_when_freed.append(held[0]() is not None))
    cfg = load_search_config(write_configs(tmp_path))
    run = objective.Objective(cfg, parse_devices("cpu:1")[0], tmp_path / "runs", fit=oom_fit,
                              data_info=lambda config: objective.DataInfo((1, 8, 8), 10),
                              pruning=PruningReporter)
    study = optuna.create_study(direction="maximize")
    study.optimize(run, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["outcome"] == "cuda_oom"
    assert trial.user_attrs["reason"].startswith("CUDA out of memory")
    assert alive_when_freed and not any(alive_when_freed)
