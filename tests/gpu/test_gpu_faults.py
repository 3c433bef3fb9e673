"""Faults on the GPU: out of memory and a NaN loss under bf16 end only their trial; the worker goes on.

One real search (the driver, one spawned worker on GPU 0, a journal file) runs four enqueued
trials in order: a batch that does not fit under a 1 GiB cap, a small one, one whose learning rate
makes the bf16 loss NaN, another small one.
"""

from __future__ import annotations

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from autolit.search.storage import WORKER_ATTR
from autolit.search.study import OUTCOME
from tests.synthetic import write_store

pytestmark = pytest.mark.gpu

LAYERS = [{"Conv2d": {"out_channels": 1024, "kernel_size": 3, "padding": 1}},  # (B, 1024, 28, 28) bf16
          {"ReLU": {}}, {"MaxPool2d": {"kernel_size": 4}}, {"Flatten": {}},
          {"Linear": {"out_features": "n_labels"}}]
TRIALS = [{"data.batch_size": 512, "optimizer.init_args.lr": 0.01},   # ~1.7 GB of activations: over the cap
          {"data.batch_size": 16, "optimizer.init_args.lr": 0.01},
          {"data.batch_size": 16, "optimizer.init_args.lr": 1e30},    # weights blow up: the loss is NaN
          {"data.batch_size": 16, "optimizer.init_args.lr": 0.01}]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> list[optuna.trial.FrozenTrial]:
    from autolit.search.config import load_search_config
    from autolit.search.run.devices import parse_devices
    from autolit.search.run.driver import SearchRun, run_search
    from autolit.search.storage import open_storage
    from tests.gpu.capped import capped_objective

    tmp = tmp_path_factory.mktemp("faults")
    store = write_store(tmp / "store", n=600, size=28)
    fit = {"seed_everything": 0,
           "trainer": {"max_epochs": 1, "precision": "bf16-mixed", "log_every_n_steps": 10},
           "model": {"task": "multiclass", "layers": LAYERS},
           "data": {"store": str(store), "batch_size": 16, "cache": "device"},
           "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01}}}
    (tmp / "fit.yaml").write_text(yaml.safe_dump(fit, sort_keys=False))
    space = {key: {"type": "categorical", "choices": sorted({t[key] for t in TRIALS})} for key in TRIALS[0]}
    search = {"fit_config": "fit.yaml", "space": space,
              "study": {"name": "faults", "metric": "val/acc", "n_trials": len(TRIALS),
                        "sampler": {"type": "RandomSampler"}, "pruner": {"type": "NopPruner"}}}
    (tmp / "search.yaml").write_text(yaml.safe_dump(search, sort_keys=False))
    journal = str(tmp / "journal.log")
    queued = optuna.create_study(study_name="faults", storage=open_storage(journal), direction="maximize")
    for params in TRIALS:
        queued.enqueue_trial(params)
    run = SearchRun(cfg=load_search_config(tmp / "search.yaml"), storage=journal, study_name="faults",
                    n_trials=len(TRIALS), timeout=None, slots=parse_devices("0", 1), runs_dir=tmp / "runs")
    done = run_search(run, capped_objective)
    return sorted(done.trials, key=lambda t: t.number)


def test_out_of_memory_is_pruned_as_cuda_oom_and_freed(study):
    oom = study[0]
    assert oom.params == TRIALS[0]
    assert oom.state == TrialState.PRUNED and oom.user_attrs[OUTCOME] == "cuda_oom", oom.user_attrs
    before, after = oom.user_attrs["cuda_allocated_before"], oom.user_attrs["cuda_allocated_after"]
    assert after <= before + (16 << 20), (before, after)  # the trial's tensors are gone


def test_nan_loss_under_bf16_ends_only_its_trial(study):
    nan = study[2]
    assert nan.params == TRIALS[2]
    assert nan.state == TrialState.PRUNED and nan.user_attrs[OUTCOME] == "non_finite_loss", nan.user_attrs


def test_the_same_worker_completes_the_next_trials(study):
    assert [t.state for t in study] == [TrialState.PRUNED, TrialState.COMPLETE, TrialState.PRUNED,
                                        TrialState.COMPLETE]
    assert len({t.user_attrs[WORKER_ATTR] for t in study}) == 1
    assert all(t.value is not None and t.value > 0.5 for t in (study[1], study[3]))
    assert study[3].user_attrs["cuda_allocated_before"] <= study[1].user_attrs["cuda_allocated_before"] + (16 << 20)
