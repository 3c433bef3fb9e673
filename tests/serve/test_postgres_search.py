"""A search job on PostgreSQL is joined by ``python -m autolit.search --storage`` run elsewhere (here:
another process with its own folder, as on a second machine); the job's trials include theirs.

Needs a server: set AUTOLIT_TEST_POSTGRES_URL (e.g. postgresql://autolit:autolit@127.0.0.1:5432/autolit_test).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import optuna
import pytest
import yaml

from tests.serve.server import REPO, Server, job_request, tiny_fit, wait_for

URL = os.environ.get("AUTOLIT_TEST_POSTGRES_URL")
pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.skipif(not URL, reason="AUTOLIT_TEST_POSTGRES_URL is not set (a PostgreSQL URL for tests)")]
TRIALS = 6


def test_a_search_job_on_postgres_counts_the_trials_of_a_joining_machine(tmp_path, data_root):
    name = f"serve-{uuid.uuid4().hex[:8]}"
    fit = tiny_fit(data_root / "tiny", limit_train_batches=2, limit_val_batches=2, limit_test_batches=1,
                   num_sanity_val_steps=0, enable_model_summary=False)
    search = {"fit_config": "fit.yaml", "study": {"name": name, "n_trials": TRIALS, "pruner": {"type": "NopPruner"}},
              "space": {"optimizer.init_args.lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}}}
    server = Server(tmp_path / "home", data_root).start()
    elsewhere = tmp_path / "other-machine"
    elsewhere.mkdir()
    (elsewhere / "fit.yaml").write_text(yaml.safe_dump(fit))
    (elsewhere / "search.yaml").write_text(yaml.safe_dump(search))
    try:
        with server.client() as client:
            job = client.post("/api/jobs", json=job_request(search, name, kind="search", fit_config=yaml.safe_dump(fit),
                                                            storage=URL)).json()
            assert job["storage"] and "autolit:***@" in job["storage"]  # the password is not answered
            wait_for(client, job["id"], {"running"}, timeout=120)
            joined = subprocess.run([sys.executable, "-m", "autolit.search", "--config", "search.yaml", "--storage", URL,
                                     "--devices", "cpu:1", "--runs-dir", "runs"], cwd=elsewhere, capture_output=True,
                                    text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
            assert joined.returncode == 0, joined.stderr[-2000:]
            done = wait_for(client, job["id"], {"succeeded", "failed", "stopped", "interrupted"}, timeout=600)
            assert done["state"] == "succeeded", client.get(f"/api/jobs/{job['id']}/log").json()["text"][-2000:]
            time.sleep(1.5)  # the job's reader sees the study as it is now
            points = client.get(f"/api/jobs/{job['id']}/metrics").json()["points"]
        from autolit.search.records import RUN_DIR
        from autolit.search.storage import open_storage

        study = optuna.load_study(study_name=name, storage=open_storage(URL))
        complete = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
        theirs = [t for t in complete if str(t.user_attrs.get(RUN_DIR, "")).startswith(str(elsewhere))]
        assert theirs and len(theirs) < len(complete), "both machines ran trials"
        assert sorted(p["step"] for p in points) == sorted(t.number for t in complete)
        assert done["best_trial"]["number"] == study.best_trial.number
    finally:
        server.stop()
