"""``search status``: fits 100 columns with every parameter (wrapped, abbreviated, a legend),
RUNNING trials with slot, epoch, current metric and heartbeat age, and ``--json``."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from autolit.search.records import best_trial
from autolit.search.run.callbacks import PruningReporter
from autolit.search.status import abbreviate, format_table
from autolit.search.storage import open_storage
from autolit.search.study import set_outcome
from tests.search.synthetic_study import journal_study, make_study


def test_table_fits_100_columns_and_hides_no_parameter(tmp_path):
    study = make_study(open_storage(str(tmp_path / "j.log")), "syn", 40)
    text = format_table(study, top=40)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    short, legend = abbreviate(sorted({k for t in study.trials for k in t.params}))
    for trial in study.trials:  # every value of every trial is in the table, under its short name
        for key, value in trial.params.items():
            shown = f"{short[key]}={value:.4g}" if isinstance(value, float) else f"{short[key]}={value}"
            assert shown in text, (trial.number, shown)
    assert "…" not in text
    assert "ch = Conv2d.out_channels" in text and "out = Linear.out_features" in text  # the legend
    assert short["layers.0.2.Conv2d.out_channels"] == "L0.2.ch" and short["optimizer.init_args.lr"] == "lr"


def test_running_trials_show_slot_epoch_metric_and_heartbeat_age(tmp_path):
    study = optuna.create_study(study_name="s", storage=open_storage(str(tmp_path / "j.log")), direction="maximize")
    study.set_user_attr("metric", "val/acc")
    trial = study.ask()
    trial.suggest_float("optimizer.init_args.lr", 1e-4, 1e-1, log=True)
    trial.set_user_attr("slot", "gpu0#1")
    trial.set_user_attr("worker", "host:42")
    reporter = PruningReporter(trial, "val/acc")
    from types import SimpleNamespace

    for epoch, acc in enumerate((0.5, 0.75)):
        reporter.on_validation_end(SimpleNamespace(sanity_checking=False, callback_metrics={"val/acc": acc},
                                                   current_epoch=epoch, should_stop=False), None)
    time.sleep(1.1)
    text = format_table(study)
    (line,) = [line for line in text.splitlines() if line.startswith("  #0 ")]
    assert line.startswith("  #0 [gpu0#1] epoch 2, val/acc=0.7500, last heard ")
    age = float(line.split("last heard ")[1].split("s ago")[0])
    assert 1.0 <= age < 30
    proc = subprocess.run([sys.executable, "-m", "autolit.search", "status", "--storage", str(tmp_path / "j.log"),
                           "--study-name", "s", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    (record,) = data["trials"]
    assert data["metric"] == "val/acc" and data["counts"] == {"RUNNING": 1}
    assert record["state"] == "RUNNING" and record["slot"] == "gpu0#1" and record["epochs"] == 2
    assert record["last_value"] == 0.75 and record["heartbeat_age_s"] >= 1.0


def test_table_ranks_best_first(tmp_path):
    study = journal_study(tmp_path)
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
