"""optuna-dashboard reads a search's journal-file study over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request

import optuna
import pytest

from autolit.search.storage import open_storage

pytestmark = pytest.mark.skipif(shutil.which("optuna-dashboard") is None,
                                reason="optuna-dashboard is not installed (pip install autolit[dashboard])")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_serves_journal_study(tmp_path):
    journal = tmp_path / "journal.log"
    study = optuna.create_study(study_name="dash", storage=open_storage(str(journal)), direction="maximize")
    for x in (0.1, 0.5):
        trial = study.ask()
        trial.suggest_float("optimizer.init_args.lr", 1e-3, 1.0, log=True)
        study.tell(trial, x)
    port = _free_port()
    proc = subprocess.Popen(["optuna-dashboard", str(journal), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        body, deadline = None, time.time() + 60
        while body is None and time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as resp:
                    body = json.loads(resp.read())
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-1000:]
                time.sleep(0.3)
        assert body is not None, "dashboard did not answer"
        (summary,) = body["study_summaries"]
        assert summary["study_name"] == "dash"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}", timeout=5) as r:
            detail = json.loads(r.read())
        assert len(detail["trials"]) == 2
        assert detail["trials"][1]["values"] == [0.5]
    finally:
        proc.terminate()
        proc.wait(10)
