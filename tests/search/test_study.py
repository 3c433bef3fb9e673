"""Counted trials, outcome codes and seeded samplers (autolit/search/study.py)."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from autolit.search.storage import open_storage
from autolit.search.study import n_counted, set_outcome
from tests.search.synthetic_study import journal_study


def test_counted_trials_exclude_worker_deaths(tmp_path):
    study = journal_study(tmp_path)
    study.tell(study.ask(), 0.5)
    t = study.ask()
    set_outcome(t, "error", "ValueError: a bug")
    study.tell(t, state=TrialState.FAIL)
    study.tell(study.ask(), state=TrialState.FAIL)  # died: no outcome, not counted
    t = study.ask()
    set_outcome(t, "config_error", "data.store: /nowhere does not exist")
    study.tell(t, state=TrialState.FAIL)  # stopped the search: not counted, runs afresh after the fix
    study.tell(study.ask(), state=TrialState.PRUNED)
    assert n_counted(study) == 3


def test_an_unknown_outcome_code_is_a_bug_not_a_record(tmp_path):
    study = journal_study(tmp_path)
    with pytest.raises(ValueError, match="unknown trial outcome 'pruned at epoch 1'"):
        set_outcome(study.ask(), "pruned at epoch 1", "free text where a code belongs")


@pytest.mark.parametrize("kind", ["TPESampler", "RandomSampler", "NSGAIISampler"])
def test_sampler_draws_follow_the_trial_number_not_the_worker(tmp_path, kind):
    """Two workers (two launches) with the same base seed on one storage draw differently, because
    each trial's draws are seeded from its number; the same numbers replay the same draws."""
    from autolit.search.study import make_sampler

    storage = open_storage(str(tmp_path / "j.log"))
    optuna.create_study(study_name="s", storage=storage)
    workers = [optuna.load_study(study_name="s", storage=storage,
                                 sampler=make_sampler({"type": kind, "seed": 5}, seed=5, parallel=True))
               for _ in range(2)]
    drawn = [workers[i % 2].ask().suggest_float("lr", 1e-4, 1.0, log=True) for i in range(4)]
    assert len(set(drawn)) == 4  # before: both workers' samplers were seeded alike and drew alike

    again = optuna.create_study(sampler=make_sampler({"type": kind}, seed=5, parallel=True))
    assert [again.ask().suggest_float("lr", 1e-4, 1.0, log=True) for _ in range(4)] == drawn  # a rerun replays
