"""``search status``: fits 100 columns with every parameter (wrapped, abbreviated, a legend),
RUNNING trials with slot, epoch, current metric and heartbeat age, and ``--json``."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import optuna

from autolit.search.run.callbacks import PruningReporter
from autolit.search.status import abbreviate, format_table
from autolit.search.storage import open_storage

from synthetic_study import make_study


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
