"""Worker processes with the stub fit: parallel slots, faults, fatal config errors, SIGKILL recovery."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from autolit.errors import UserError
from autolit.search.config import load_search_config
from autolit.search.run.devices import parse_devices
from autolit.search.run.driver import SearchRun, make_jobs, open_study, run_search
from autolit.search.run.worker import run_worker
from autolit.search.storage import open_storage
from tests.search import search_stubs
from tests.search.search_configs import FIT, write_configs

STUBS = Path(search_stubs.__file__)


def _search_run(path: Path, tmp: Path, n: int, workers: int) -> SearchRun:
    return SearchRun(cfg=load_search_config(path), storage=str(tmp / "journal.log"), study_name="stub",
                     n_trials=n, timeout=None, slots=parse_devices(f"cpu:{workers}", cores=2),
                     runs_dir=tmp / "runs")


def _run(path: Path, tmp: Path, n: int = 4, workers: int = 2) -> optuna.Study:
    """The real driver: spawned worker processes."""
    return run_search(_search_run(path, tmp, n, workers), search_stubs.stub_factory)


def _run_here(path: Path, tmp: Path, n: int) -> optuna.Study:
    """One worker loop in this process (no spawn: fast), same code path as a worker."""
    run = _search_run(path, tmp, n, 1)
    study = open_study(run)
    job = replace(make_jobs(run, study)[0], parent_pid=os.getppid())
    run_worker(job, search_stubs.stub_factory)
    return study


def test_two_workers_reach_the_count_with_trial_folders(tmp_path):
    study = _run(write_configs(tmp_path), tmp_path, n=6)
    trials = study.get_trials()
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert 6 <= len(done) <= 7  # at most one overshoot from two workers starting together
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # two processes did the work
    assert all("layers.0.repeat" in t.params for t in trials)
    for t in done:
        assert (tmp_path / "runs" / "stub" / f"trial_{t.number}" / "config.yaml").is_file()
    assert not study.get_trials(states=(TrialState.RUNNING,))


def test_nan_loss_is_pruned_with_reason_and_study_goes_on(tmp_path):
    fit = {**FIT, "stub": {"nan": 0.0}}  # every lr "diverges"
    study = _run_here(write_configs(tmp_path, fit=fit), tmp_path, n=3)
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state == TrialState.PRUNED for t in trials)
    assert all(t.user_attrs["outcome"] == "non_finite_loss" for t in trials)


def test_pruner_stops_trial_and_records_epoch_in_reason(tmp_path):
    study_cfg = {"pruner": {"type": "ThresholdPruner", "lower": 10.0}}  # every first epoch is below
    study = _run_here(write_configs(tmp_path, study=study_cfg), tmp_path, n=2)
    trials = study.get_trials()
    assert len(trials) == 2 and all(t.state == TrialState.PRUNED for t in trials)
    assert all((t.user_attrs["outcome"], t.user_attrs["outcome_epoch"]) == ("pruned", 0) for t in trials)
    assert all(t.user_attrs["reason"].startswith("val/acc=") for t in trials)  # what the pruner saw


def test_infeasible_spec_is_pruned_before_fitting(tmp_path):
    study_cfg = {"max_params": 700}  # Linear 64->10 at the low end is 650 params plus convs
    study = _run_here(write_configs(tmp_path, study=study_cfg), tmp_path, n=3)
    infeasible = [t for t in study.get_trials() if t.user_attrs.get("outcome") == "infeasible"]
    assert infeasible and all("study.max_params 700" in t.user_attrs["reason"] for t in infeasible)
    for t in infeasible:
        assert t.state == TrialState.PRUNED
        assert not (tmp_path / "runs" / "stub" / f"trial_{t.number}").exists()  # no device time


def test_bug_in_fit_fails_trial_with_traceback(tmp_path):
    fit = {**FIT, "stub": {"bug": True}}
    study = _run_here(write_configs(tmp_path, fit=fit), tmp_path, n=2)
    t = study.get_trials()[0]
    assert t.state == TrialState.FAIL and t.user_attrs["outcome"] == "error"
    assert t.user_attrs["reason"].startswith("ValueError")
    assert "a bug in the fit" in (tmp_path / "runs" / "stub" / "trial_0" / "error.txt").read_text()


def test_user_error_in_a_worker_stops_everything(tmp_path):
    fit = {**FIT, "stub": {"user_error": True}}
    with pytest.raises(UserError, match=r"data\.store: /nowhere does not exist"):
        _run(write_configs(tmp_path, fit=fit), tmp_path, n=4, workers=2)


def _cli(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(STUBS), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_cli_config_error_exits_2_with_one_line(tmp_path):
    path = write_configs(tmp_path, study={"sampler": {"type": "Grid"}})
    proc = _cli(["--config", str(path), "--devices", "cpu:1", "--runs-dir", str(tmp_path / "runs")])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1].startswith("error: study.sampler.type is 'Grid'")
    assert "Traceback" not in err


def test_cli_refuses_sqlite(tmp_path):
    proc = _cli(["--config", str(write_configs(tmp_path)), "--storage", "sqlite:///x.db"])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "SQLite locks up under parallel workers" in err


def _load(journal: Path) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name="stub", storage=open_storage(str(journal))).get_trials()
    except KeyError:  # the driver has not created the study yet
        return []


def _wait_for(journal: Path, done, timeout: float = 90) -> list[optuna.trial.FrozenTrial]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        trials = _load(journal)
        if done(trials):
            return trials
        time.sleep(0.3)
    raise AssertionError(f"timed out; trials: {[(t.number, t.state.name) for t in _load(journal)]}")


def test_sigkill_whole_search_then_rerun_recovers(tmp_path):
    """SIGKILL parent and workers mid-trial; the same command again completes the study.

    Trials numbered 2 and up wait while ``hang`` exists, so the ones running when the test kills
    the search cannot finish between its look at the states and the kill.
    """
    hang = tmp_path / "hang"
    hang.touch()
    fit = {**FIT, "stub": {"sleep": 0.1, "epochs": 3, "hang_file": str(hang), "hang_from": 2}}
    path = write_configs(tmp_path, fit=fit, study={"pruner": {"type": "NopPruner"}})
    journal = tmp_path / "journal.log"
    args = ["--config", str(path), "--n-trials", "6", "--devices", "cpu:2", "--storage", str(journal),
            "--study-name", "stub", "--runs-dir", str(tmp_path / "runs")]
    proc = _cli(args, start_new_session=True)
    _wait_for(journal, lambda ts: any(t.state == TrialState.COMPLETE for t in ts)
              and any(t.state == TrialState.RUNNING and t.number >= 2 for t in ts))
    live = subprocess.run([sys.executable, "-m", "autolit.search", "report", "--storage", str(journal), "--study-name",
                           "stub", "--out", str(tmp_path / "live")], capture_output=True, text=True, timeout=120)
    assert live.returncode == 0, live.stderr  # a report of the study while it runs
    assert ",RUNNING," in (tmp_path / "live" / "trials.csv").read_text()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    before = _load(journal)
    completed = {t.number: t.value for t in before if t.state == TrialState.COMPLETE}
    killed = [t.number for t in before if t.state == TrialState.RUNNING]
    assert completed and any(n >= 2 for n in killed)  # a waiting trial surely was running

    hang.unlink()
    rerun = _cli(args)
    out, err = rerun.communicate(timeout=150)
    assert rerun.returncode == 0, err[-2000:]
    after = _load(journal)
    assert {t.number: t.value for t in after if t.number in completed} == completed  # intact
    assert not [t for t in after if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert all(after[n].state == TrialState.FAIL for n in killed)
    retried = {t.user_attrs.get("retry_of") for t in after} - {None}
    assert retried == set(killed)  # each killed trial retried once, with the same params
    for t in after:
        if "retry_of" in t.user_attrs:
            assert t.params == after[t.user_attrs["retry_of"]].params
    assert sum(t.state == TrialState.COMPLETE for t in after) >= 6
    assert "stale RUNNING" in out and "study stub:" in out


def _session(sid: int) -> list[int]:
    """Pids of live (not zombie) processes in session ``sid``."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def test_sigkill_of_the_driver_alone_ends_its_workers(tmp_path):
    """The driver dies mid-trial (OOM killer, lost terminal): no worker outlives it by 10 s."""
    hang = tmp_path / "hang"
    hang.touch()
    fit = {**FIT, "stub": {"hang_file": str(hang), "hang_from": 0}}  # every trial waits ~forever
    path = write_configs(tmp_path, fit=fit)
    journal = tmp_path / "journal.log"
    # Output to files, not pipes: a surviving child holding a pipe would also block communicate().
    with open(tmp_path / "out.txt", "w") as out:
        proc = subprocess.Popen([sys.executable, str(STUBS), "--config", str(path), "--devices", "cpu:2", "--storage",
                                 str(journal), "--study-name", "stub", "--runs-dir", str(tmp_path / "runs")],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(journal, lambda ts: sum(t.state == TrialState.RUNNING for t in ts) == 2)
        assert len(_session(proc.pid)) >= 3  # the driver and its two workers (and helpers)
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers get no signal from us
        proc.wait()
        deadline = time.time() + 10
        while _session(proc.pid) and time.time() < deadline:
            time.sleep(0.2)
        assert _session(proc.pid) == [], "processes outlived the killed driver"
    finally:
        for pid in _session(proc.pid):
            os.kill(pid, signal.SIGKILL)


def test_a_worker_that_keeps_dying_ends_with_one_line_naming_slot_code_and_log(tmp_path):
    fit = {**FIT, "stub": {"crash": 3, "print": "about to crash"}}
    path = write_configs(tmp_path, fit=fit)
    proc = _cli(["--config", str(path), "--devices", "cpu:1", "--storage", str(tmp_path / "j.log"),
                 "--study-name", "stub", "--runs-dir", str(tmp_path / "runs")])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err + out
    line = err.strip().splitlines()[-1]
    match = re.fullmatch(r"error: worker cpu#0 died 3 times, the last time with exit code 3: read (\S+)", line)
    assert match, line
    log = Path(match.group(1))
    assert log.name == "trial.log" and "about to crash" in log.read_text()
    assert out.count("died (exit code 3") == 2  # the two restarts were announced


def test_two_identical_launches_on_one_journal_draw_different_trials(tmp_path):
    """The README's multi-machine recipe on one host: the same command twice, at once."""
    path = write_configs(tmp_path, fit={**FIT, "stub": {"sleep": 0.05, "epochs": 2}})
    args = ["--config", str(path), "--n-trials", "6", "--devices", "cpu:1", "--storage", str(tmp_path / "j.log"),
            "--study-name", "stub", "--runs-dir", str(tmp_path / "runs")]
    procs = [_cli(args), _cli(args)]
    for proc in procs:
        out, err = proc.communicate(timeout=150)
        assert proc.returncode == 0, err[-2000:]
    trials = _load(tmp_path / "j.log")
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both launches ran trials
    params = [tuple(sorted(t.params.items())) for t in trials if t.params]
    assert len(params) >= 6 and len(set(params)) == len(params)  # no two trials alike (before: the first two)


def test_devices_naming_a_missing_gpu_stops_before_any_trial(tmp_path):
    journal = tmp_path / "j.log"
    proc = _cli(["--config", str(write_configs(tmp_path)), "--devices", "5", "--storage", str(journal),
                 "--runs-dir", str(tmp_path / "runs")], env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("error: --devices 5: GPU 5 is not visible: this machine shows no GPU "
                                            "(CUDA_VISIBLE_DEVICES=''); use --devices auto, cpu:N or the ids of "
                                            "visible GPUs")
    assert not journal.exists()  # no study, so no failed trials in it
