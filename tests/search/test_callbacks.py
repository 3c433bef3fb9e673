"""The pruning callback inside a fit (autolit/search/run/callbacks.py)."""

from __future__ import annotations

from types import SimpleNamespace

import optuna

from autolit.search.run.callbacks import PruningReporter


def _trainer(epoch, acc, sanity=False):
    return SimpleNamespace(sanity_checking=sanity, callback_metrics={"val/acc": acc}, current_epoch=epoch,
                           should_stop=False)


def test_pruning_reporter_stops_the_trainer_and_keeps_the_epoch():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    cb = PruningReporter(trial, "val/acc")
    cb.on_validation_end(_trainer(0, 0.0, sanity=True), None)  # sanity check: not reported
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {}
    ok = _trainer(0, 0.9)
    cb.on_validation_end(ok, None)
    assert not ok.should_stop
    bad = _trainer(1, 0.1)
    cb.on_validation_end(bad, None)
    assert bad.should_stop and cb.pruned_at == 1  # stop cleanly, no raise inside the loop
    assert cb.verdict() == "val/acc=0.1 at epoch 1"
