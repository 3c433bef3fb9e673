"""SIGKILL in the middle of an import, then the same import again == an uninterrupted import."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from autolit.errors import UserError
from autolit.store import StoreReader
from autolit.store.importers import import_folder
from tests.store.helpers import make_class_folder, slow_import_script, subprocess_env

# Slows every commit down so the kill lands between commits of a long import.
_SLOW_IMPORT = slow_import_script(sleep=0.05, batch_size=8, workers=1)


def _count_after_first_commit(store, proc, timeout=60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            reader = StoreReader(store)
            if reader.meta.count > 0:
                return reader.meta.count
        except UserError:
            pass  # not created yet
        time.sleep(0.02)
    raise AssertionError(f"import never committed (rc={proc.poll()})")


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path, python):
    folder = make_class_folder(tmp_path / "imgs", per_class=150)
    store = tmp_path / "killed"
    proc = subprocess.Popen([python, "-c", _SLOW_IMPORT, str(folder), str(store)],
                            env=subprocess_env(), stderr=subprocess.PIPE)
    try:
        _count_after_first_commit(store, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    partial = StoreReader(store)
    partial.close()
    assert 0 < partial.meta.count < 300
    assert len(partial.keys()) == partial.meta.count  # never a record without its meta update

    resumed = import_folder(folder, store, batch_size=8, workers=1)  # lock was freed by the kill
    reference = import_folder(folder, tmp_path / "clean", workers=1)
    assert resumed.added == 300 - partial.meta.count
    assert (resumed.count, resumed.fingerprint) == (reference.count, reference.fingerprint) == (
        300, reference.fingerprint)
