"""Storage choice, stale-trial recovery, device slots, the pruning callback, the best table."""

from __future__ import annotations

import os
import socket
from types import SimpleNamespace

import optuna
import pytest
from search_configs import write_configs
from optuna.trial import TrialState

from autolit.errors import UserError
from autolit.search.run.callbacks import PruningReporter
from autolit.search.run.devices import parse_devices
from autolit.search.records import best_trial
from autolit.search.status import format_table
from autolit.search.storage import check_storage, open_storage, recover_stale
from autolit.search.study import n_counted, set_outcome


def test_sqlite_and_unknown_urls_refused():
    with pytest.raises(UserError, match=r"--storage sqlite:///a\.db: SQLite locks up under parallel workers"):
        check_storage("sqlite:///a.db")
    with pytest.raises(UserError, match=r"unsupported URL scheme"):
        check_storage("mysql://x/y")
    assert check_storage("postgres://u@h/db") == "postgresql://u@h/db"


def _journal_study(tmp_path, name="s"):
    storage = open_storage(str(tmp_path / "j.log"))
    return optuna.create_study(study_name=name, storage=storage, direction="maximize")


def test_recover_stale_fails_dead_workers_trials_and_retries_once(tmp_path):
    study = _journal_study(tmp_path)
    host = socket.gethostname()
    dead, alive = study.ask(), study.ask()
    for trial, pid in ((dead, 999_999_999), (alive, os.getpid())):
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        trial.set_user_attr("worker", f"{host}:{pid}")
    assert recover_stale(study) == [dead.number]
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    assert trials[alive.number].state == TrialState.RUNNING  # a live worker's trial is kept
    retry = trials[-1]
    assert retry.state == TrialState.WAITING and retry.user_attrs["retry_of"] == dead.number
    # the retry itself dying is not retried again
    popped = study.ask()
    assert popped.number == retry.number
    assert popped.suggest_float("lr", 1e-3, 1e-1, log=True) == dead.params["lr"]  # same params
    popped.set_user_attr("worker", f"{host}:999999999")
    assert recover_stale(study) == [popped.number]
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 0


def test_counted_trials_exclude_worker_deaths(tmp_path):
    study = _journal_study(tmp_path)
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
    study = _journal_study(tmp_path)
    with pytest.raises(ValueError, match="unknown trial outcome 'pruned at epoch 1'"):
        set_outcome(study.ask(), "pruned at epoch 1", "free text where a code belongs")


@pytest.mark.parametrize("spec, per, want", [
    ("cpu:2", 1, [("cpu", None, 1, ""), ("cpu", None, 1, "")]),
    ("auto", 1, [("cpu", None, 2, "")]),
    ("0,1", 2, [("gpu", 0, 1, "0"), ("gpu", 0, 1, "0"), ("gpu", 1, 1, "1"), ("gpu", 1, 1, "1")]),
])
def test_device_slots(spec, per, want, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    slots = parse_devices(spec, per, gpus=0 if spec == "auto" else 2, cores=2)
    assert [(s.accelerator, s.gpu, s.threads, s.env["CUDA_VISIBLE_DEVICES"]) for s in slots] == want
    assert len({s.index for s in slots}) == len(slots)


def test_auto_uses_all_gpus(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [s.label for s in parse_devices("auto", 2, gpus=2, cores=16)] == ["gpu0#0", "gpu0#1", "gpu1#2", "gpu1#3"]


@pytest.mark.parametrize("spec, match", [("cpu:0", r"cpu:N with 1 <= N <= 64"), ("gpu", r"use auto, cpu:N or GPU ids"),
                                         ("cpu:x", r"cpu:N"), ("cpu:500", r"cpu:N with 1 <= N <= 64"),
                                         ("0,0", r"a GPU is listed twice; use --per-device")])
def test_bad_devices(spec, match):
    with pytest.raises(UserError, match=match):
        parse_devices(spec, cores=2, gpus=2)


def test_devices_naming_a_gpu_that_is_not_there_stop_with_what_is_visible(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(UserError, match=r"--devices 5: GPU 5 is not visible: this machine shows no GPU; "
                                        r"use --devices auto, cpu:N"):
        parse_devices("5", gpus=0)
    with pytest.raises(UserError, match=r"--devices 0,2: GPU 2 is not visible: this machine shows 2 GPU\(s\), ids 0\.\.1"):
        parse_devices("0,2", gpus=2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.raises(UserError, match=r"shows 1 GPU\(s\), ids 0\.\.0 \(CUDA_VISIBLE_DEVICES='3'\)"):
        parse_devices("1")
    assert parse_devices("0")[0].env["CUDA_VISIBLE_DEVICES"] == "3"


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


def test_table_ranks_best_first(tmp_path):
    study = _journal_study(tmp_path)
    for lr, value in ((0.1, 0.5), (0.01, 0.9)):
        t = study.ask()
        t.suggest_float("optimizer.init_args.lr", 1e-3, 1.0, log=True)
        t.suggest_int("layers.0.repeat", 1, 3)
        study.tell(t, value)
    t = study.ask()
    set_outcome(t, "infeasible", "9 parameters > study.max_params 1")
    study.tell(t, state=TrialState.PRUNED)
    text = format_table(study)
    lines = text.splitlines()
    assert lines[0] == "study s: 2 complete, 1 pruned (maximize)"
    assert lines[2].split()[:3] == ["1", "0.9000", "COMPLETE"] and "lr=" in lines[2] and "L0.n=" in lines[2]
    assert lines[3].split()[:3] == ["0", "0.5000", "COMPLETE"]
    assert lines[4].split()[:4] == ["2", "-", "PRUNED", "infeasible"]
    assert lines[5].strip() == "9 parameters > study.max_params 1"
    assert "lr = optimizer.init_args.lr" in text and "n = repeat count" in text  # the legend
    assert best_trial(study).number == 1


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


def test_out_of_memory_trial_is_pruned_with_its_memory_released(tmp_path, monkeypatch):
    """The failed fit's frames hold the model and batches; they must be gone when memory is freed."""
    import weakref

    import torch

    from autolit.search.run import objective
    from autolit.search.config import load_search_config
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


def test_recover_stale_tells_a_reused_pid_from_the_worker_that_had_it(tmp_path):
    """After a crash or a reboot another process may have the dead worker's pid: still stale."""
    from autolit.search.storage import process_identity

    study = _journal_study(tmp_path)
    host = socket.gethostname()
    reused, mine = study.ask(), study.ask()
    for trial, identity in ((reused, "another-boot:12345"), (mine, process_identity())):
        trial.set_user_attr("worker", f"{host}:{os.getpid()}")  # a live pid: this test's
        trial.set_user_attr("worker_process", identity)
    assert process_identity() is not None
    assert recover_stale(study) == [reused.number]
    assert study.get_trials()[mine.number].state == TrialState.RUNNING


def test_recover_stale_leaves_a_just_asked_untagged_trial_to_its_worker(tmp_path):
    """A trial is RUNNING from ask(); its worker tags it a write later: untagged is not yet stale."""
    study = _journal_study(tmp_path)
    asked = study.ask()
    assert recover_stale(study) == []
    assert study.get_trials()[asked.number].state == TrialState.RUNNING
    assert recover_stale(study, untagged_after_s=0.0) == [asked.number]  # untagged that long: its worker died


def test_recover_stale_with_a_tag_fails_only_that_workers_trials(tmp_path):
    study = _journal_study(tmp_path)
    host = socket.gethostname()
    mine, other, untagged = study.ask(), study.ask(), study.ask()
    mine.set_user_attr("worker", f"{host}:999999998")
    other.set_user_attr("worker", f"{host}:999999999")  # dead too, but not the one the driver saw die
    assert recover_stale(study, tag=f"{host}:999999998", untagged_after_s=0.0) == [mine.number]
    states = [t.state for t in study.get_trials()]
    assert states[other.number] == states[untagged.number] == TrialState.RUNNING


def test_a_worker_restart_leaves_a_live_peers_untagged_trial_running(tmp_path, monkeypatch):
    """The driver restarting a dead worker used to fail every untagged RUNNING trial: a live peer's
    trial between ask() and its tag, whose next write then crashed that healthy peer."""
    from autolit.search.run import driver
    from autolit.search.run.devices import Slot
    from autolit.search.run.worker import WorkerJob

    study = _journal_study(tmp_path)
    dead_pid = 999_999_997
    dead = study.ask()
    dead.suggest_float("lr", 1e-3, 1e-1, log=True)
    dead.set_user_attr("worker", f"{socket.gethostname()}:{dead_pid}")
    peer = study.ask()  # just asked by a live peer, not tagged yet

    class Proc:
        def __init__(self, pid, code):
            self.pid, self.exitcode = pid, code

        def is_alive(self):
            return False

    slot = Slot(index=0, accelerator="cpu")
    job = WorkerJob(config_path="s.yaml", storage=str(tmp_path / "j.log"), study_name="s", n_trials=5,
                    deadline=None, slot=slot, runs_dir=str(tmp_path), n_workers=2, sampler_seed=0,
                    parent_pid=os.getpid())
    monkeypatch.setattr(driver, "respawn", lambda *a: Proc(1, 0))
    monkeypatch.setattr(driver, "POLL_S", 0.0)
    progress = SimpleNamespace(note=lambda line: None, poll=lambda: None)
    driver._watch([Proc(dead_pid, -9)], [job], None, None, study, progress)
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    assert trials[peer.number].state == TrialState.RUNNING
    assert trials[-1].user_attrs.get("retry_of") == dead.number  # the dead one's retry is queued


def test_resuming_with_another_metric_is_refused(tmp_path):
    """The stored study ranks by its metric: mixing val/acc and val/loss values would be silent nonsense."""
    from pathlib import Path

    from autolit.search.config import load_search_config
    from autolit.search.run.driver import SearchRun, open_study

    def run(metric):
        path = write_configs(tmp_path, study={"metric": metric, "direction": "maximize"})
        return SearchRun(cfg=load_search_config(path), storage=str(tmp_path / "j.log"), study_name="s",
                         n_trials=2, timeout=None, slots=parse_devices("cpu:1", cores=1), runs_dir=Path(tmp_path))

    assert open_study(run("val/acc")).user_attrs["metric"] == "val/acc"
    with pytest.raises(UserError, match=r"study s in .*j\.log ranks trials by val/acc but .*search\.yaml says "
                                        r"study\.metric: val/loss: set it back to val/acc, or use another --study-name"):
        open_study(run("val/loss"))
    assert open_study(run("val/acc")).user_attrs["metric"] == "val/acc"


@pytest.mark.parametrize("storage, n_workers, liar", [
    ("j.log", 1, False), ("j.log", 2, True), ("postgresql://u@h/db", 1, True)])
def test_constant_liar_whenever_trials_may_run_in_parallel(search_yaml, storage, n_workers, liar):
    """PostgreSQL: workers of other hosts' launches run beside this one's single worker."""
    from autolit.search.config import load_search_config
    from autolit.search.run.devices import Slot
    from autolit.search.run.worker import WorkerJob, worker_sampler

    job = WorkerJob(config_path=str(search_yaml), storage=storage, study_name="s", n_trials=2, deadline=None,
                    slot=Slot(index=0, accelerator="cpu"), runs_dir="runs", n_workers=n_workers,
                    sampler_seed=0, parent_pid=os.getpid())
    assert worker_sampler(job, load_search_config(search_yaml))._constant_liar is liar
