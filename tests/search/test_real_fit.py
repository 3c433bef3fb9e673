"""The real CLI end to end on a tiny store: two CPU workers, trial folders, status table, best export."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from autolit.search.storage import open_storage
from tests.search.search_configs import SPACE, real_fit_config, write_configs


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autolit.search", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_cli_two_workers_trial_folders_table_and_export(tmp_path, tiny_store):
    path = write_configs(tmp_path, fit=real_fit_config(tiny_store), space=SPACE,
                         study={"name": "tiny", "pruner": {"type": "NopPruner"}})
    journal = tmp_path / "runs" / "tiny" / "journal.log"
    run = _cli("--config", str(path), "--n-trials", "3", "--devices", "cpu:2", "--runs-dir",
               str(tmp_path / "runs"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "study tiny:" in run.stdout and "L0.n=" in run.stdout and "n = repeat count" in run.stdout

    study = optuna.load_study(study_name="tiny", storage=open_storage(str(journal)))
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) >= 3 and len({t.user_attrs["worker"] for t in study.trials}) == 2
    best = max(done, key=lambda t: t.value)
    folder = tmp_path / "runs" / "tiny" / f"trial_{best.number}"
    resolved = yaml.safe_load((folder / "resolved.yaml").read_text())
    assert resolved["seed_everything"] == best.number  # study.seed 0 + trial number
    assert resolved["optimizer"]["init_args"]["lr"] == best.params["optimizer.init_args.lr"]
    convs = [layer["Conv2d"] for layer in resolved["model"]["layers"] if "Conv2d" in layer]
    assert len(convs) == best.params["layers.0.repeat"] and convs[0]["in_channels"] == 1  # auto filled
    assert list(folder.glob("events.out.tfevents.*")) and (folder / "checkpoints" / "best.ckpt").is_file()

    status = _cli("status", "--storage", str(journal), "--study-name", "tiny", cwd=tmp_path)
    assert status.returncode == 0 and status.stdout.splitlines()[2].split()[0] == str(best.number)
    export = _cli("best", "--storage", str(journal), "--study-name", "tiny", "--export", str(tmp_path / "out"),
                  cwd=tmp_path)
    assert export.returncode == 0, export.stderr[-3000:]
    assert (tmp_path / "out" / "model.pt").is_file() and (tmp_path / "out" / "model.onnx").is_file()
    assert "model.onnx" in export.stdout and "FAILED" not in export.stdout
    only_ts = _cli("best", "--storage", str(journal), "--study-name", "tiny", "--export", str(tmp_path / "ts"),
                   "--format", "torchscript", cwd=tmp_path)
    assert only_ts.returncode == 0, only_ts.stderr[-3000:]
    assert (tmp_path / "ts" / "model.pt").is_file() and not (tmp_path / "ts" / "model.onnx").exists()
    same = subprocess.run([sys.executable, "-m", "autolit.export", "--storage", str(journal), "--study-name", "tiny",
                           "--format", "torchscript", "--out", str(tmp_path / "ts2")], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert same.returncode == 0, same.stderr[-3000:]
    picked = [json.loads((tmp_path / d / "metadata.json").read_text())["checkpoint"] for d in ("out", "ts", "ts2")]
    assert len(set(picked)) == 1 and picked[0].endswith(f"trial_{best.number}/checkpoints/best.ckpt")  # one route
    bad = _cli("best", "--storage", str(journal), "--study-name", "tiny", "--export", str(tmp_path / "x"),
               "--format", "tflite", cwd=tmp_path)
    assert bad.returncode == 2 and "valid: torchscript, onnx" in bad.stderr
    missing = _cli("status", "--storage", str(journal), "--study-name", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "--study-name nope: not in" in missing.stderr


@pytest.mark.filterwarnings("ignore::FutureWarning")  # isinstance() over gc touches torch's deprecated names
def test_trials_release_trainer_model_data_and_loggers(tmp_path, tiny_store, monkeypatch):
    """A worker runs many trials in one process: nothing of a finished trial may stay reachable."""
    monkeypatch.setattr(sys, "argv", sys.argv[:1])  # as in a worker: pytest's flags are not the fit's
    import gc

    import lightning.pytorch as pl
    from lightning.pytorch.loggers import TensorBoardLogger

    from autolit.search.config import load_search_config
    from autolit.search.run.devices import cpu_slots
    from autolit.search.run.objective import make_objective
    from autolit.search.study import TrialFailed

    path = write_configs(tmp_path, fit=real_fit_config(tiny_store), space=SPACE, study={"name": "mem"})
    objective = make_objective(load_search_config(path), cpu_slots(1, 1)[0], tmp_path / "runs")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3, catch=(TrialFailed,), gc_after_trial=True)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    gc.collect()
    kinds = (pl.Trainer, pl.LightningModule, pl.LightningDataModule, TensorBoardLogger)
    alive = [type(o).__name__ for o in gc.get_objects() if isinstance(o, kinds)]
    assert alive == []


def test_an_interrupt_inside_a_trials_fit_fails_the_trial(tmp_path, tiny_store, monkeypatch):
    """A worker's SIGTERM raises KeyboardInterrupt inside the Trainer, which Lightning turns into
    sys.exit(1); Optuna fails a trial only on Exception/KeyboardInterrupt, so it stayed RUNNING."""
    import signal

    import lightning.pytorch as pl

    from autolit.search.config import load_search_config
    from autolit.search.run.devices import cpu_slots
    from autolit.search.run.objective import Objective
    from autolit.training import run_fit

    class Interrupt(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "argv", sys.argv[:1])
    saved = signal.getsignal(signal.SIGINT)  # Lightning leaves SIGINT ignored after its shutdown
    path = write_configs(tmp_path, fit=real_fit_config(tiny_store), space=SPACE, study={"name": "int"})
    objective = Objective(load_search_config(path), cpu_slots(1, 1)[0], tmp_path / "runs", fit=run_fit,
                          pruning=lambda trial, metric: Interrupt())
    study = optuna.create_study(direction="maximize")
    try:
        with pytest.raises(KeyboardInterrupt):
            study.optimize(objective, n_trials=1)
    finally:
        signal.signal(signal.SIGINT, saved)
    assert study.trials[0].state == TrialState.FAIL
