"""The runner: a thread of the server that starts queued jobs in free slots and watches them.

Each job is one process group (``start_new_session``), started from its folder as the command a
user would type (``python -m autolit.fit --config fit.yaml``), through
:mod:`autolit.serve.launch` so it dies with the server. The table is the truth: a job is claimed
with an atomic ``queued → running`` before its process starts, and ends from the exit code the
runner reaps. A stop sends SIGTERM to the group (Lightning writes ``last.ckpt``, search workers fail
their trials cleanly), then SIGKILL once the grace period is over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autolit.serve.jobs import FIT_FILE, LOG_FILE, SEARCH_FILE
from autolit.serve.models import LIVE, RESUMABLE, Kind, State
from autolit.serve.progress import error_line, last_checkpoint
from autolit.serve.table import JobTable
from autolit.system import usable_cpus

POLL_S = 0.2
SHUTDOWN_GRACE_S = 10.0


@dataclass(frozen=True)
class Slot:
    """Where one job runs: ``cpu``, or a GPU index (the job sees only that GPU)."""

    label: str
    env: dict[str, str]


def make_slots(n: int | None, gpus: int) -> list[Slot]:
    """``n`` slots (default: one per GPU, else one), GPUs handed out round-robin; CPU threads shared."""
    count = n if n is not None else max(1, gpus)
    if gpus:
        return [Slot(str(i % gpus), {"CUDA_VISIBLE_DEVICES": str(i % gpus)}) for i in range(count)]
    threads = str(max(1, usable_cpus() // count))
    return [Slot("cpu", {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}) for _ in range(count)]


def command(job: dict[str, Any], slot: Slot, launcher_parent: int) -> list[str]:
    """The job's command line, behind the launcher; a resumed fit adds ``--ckpt_path last``."""
    python = sys.executable
    if job["kind"] == Kind.fit.value:
        cmd = [python, "-m", "autolit.fit", "--config", FIT_FILE]
        if job["attempt"] > 0 and last_checkpoint(Path(job["folder"])) is not None:
            cmd += ["--ckpt_path", "last"]
    else:
        devices = "auto" if "CUDA_VISIBLE_DEVICES" in slot.env else "cpu:1"
        cmd = [python, "-m", "autolit.search", "--config", SEARCH_FILE, "--devices", devices, "--runs-dir", "runs"]
        if job["storage"]:
            cmd += ["--storage", job["storage"]]
    return [python, "-m", "autolit.serve.launch", str(launcher_parent), "--", *cmd]


def process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live job from a reused pid), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Runner:
    """Starts queued jobs in free slots, reaps them, enforces stop deadlines."""

    def __init__(self, table: JobTable, slots: list[Slot], grace_s: float) -> None:
        self.table, self.slots, self.grace_s = table, slots, grace_s
        self.procs: dict[int, subprocess.Popen] = {}
        self.busy: dict[int, int] = {}  # slot index -> job id
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._busy_lock = threading.Lock()  # one loop pass, or the start of a shutdown
        self._draining = False
        self._thread = threading.Thread(target=self._loop, name="autolit-runner", daemon=True)

    # ---- called from the API ----------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop_job(self, job_id: int) -> bool:
        """Stop a queued job at once, or ask a running one to stop; False if it is neither."""
        now = time.time()
        if self.table.transition(job_id, State.stopped, when=[State.queued], ended_at=now):
            return True
        if not self.table.transition(job_id, State.stopping, when=[State.running], stop_deadline=now + self.grace_s):
            return False
        job = self.table.get(job_id)
        if job and job["pid"]:
            _signal_group(job["pid"], signal.SIGTERM)
        self.wake()
        return True

    def resume_job(self, job_id: int) -> bool:
        """A stopped or interrupted job goes back to the queue; its next process resumes its work."""
        done = self.table.transition(job_id, State.queued, when=RESUMABLE, ended_at=None, exit_code=None,
                                     error=None, pid=None, stop_deadline=None)
        self.wake()
        return done

    def shutdown(self) -> None:
        """SIGTERM every job, SIGKILL after a short grace, mark them interrupted; then end the loop.

        The loop thread is ended last: it started the jobs, and the kernel's parent-death signal
        (SIGKILL) fires when that *thread* exits, which would cut the jobs' clean stop short.
        """
        with self._busy_lock:
            self._draining = True  # the loop neither starts nor reaps jobs from now on
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        end = time.time() + min(self.grace_s, SHUTDOWN_GRACE_S)
        for proc in self.procs.values():
            try:
                proc.wait(max(0.0, end - time.time()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        for job_id in list(self.procs):
            self.table.transition(job_id, State.interrupted, when=LIVE, ended_at=time.time(),
                                  error="the server stopped while it ran: resume it", pid=None)
        self.procs.clear()
        self._halt.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5)

    # ---- the loop -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._halt.is_set():
            with self._busy_lock:
                if not self._draining:
                    try:
                        self._reap()
                        self._enforce_deadlines()
                        self._fill()
                    except Exception:  # noqa: BLE001 - one bad pass (a full disk...) must not end the runner
                        traceback.print_exc()
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _reap(self) -> None:
        for job_id, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            if group_alive(proc.pid):  # the leader is gone; its group (loader, search workers) gets no grace
                _signal_group(proc.pid, signal.SIGKILL)
            del self.procs[job_id]
            self.busy = {s: j for s, j in self.busy.items() if j != job_id}
            self._finish(job_id, code)

    def _finish(self, job_id: int, code: int) -> None:
        job = self.table.get(job_id)
        if job is None:
            return
        now = time.time()
        if code == 0:
            to, error = State.succeeded, None
        elif job["state"] == State.stopping.value:
            to, error = State.stopped, None
        else:
            to, error = State.failed, error_line(Path(job["folder"]) / LOG_FILE, code)
        self.table.transition(job_id, to, when=LIVE, ended_at=now, exit_code=code, error=error, pid=None,
                              stop_deadline=None)

    def _enforce_deadlines(self) -> None:
        now = time.time()
        for job_id, proc in self.procs.items():
            job = self.table.get(job_id)
            if job and job["state"] == State.stopping.value and job["stop_deadline"] and now >= job["stop_deadline"]:
                _signal_group(proc.pid, signal.SIGKILL)

    def _fill(self) -> None:
        for index, slot in enumerate(self.slots):
            if index in self.busy:
                continue
            job = self.table.next_queued()
            if job is None:
                return
            if not self.table.transition(job["id"], State.running, when=[State.queued], started_at=time.time(),
                                         attempt=job["attempt"] + 1, slot=slot.label):
                continue  # stopped (or deleted) since it was read
            self._spawn(job, index, slot)

    def _spawn(self, job: dict[str, Any], index: int, slot: Slot) -> None:
        folder = Path(job["folder"])
        cmd = command(job, slot, os.getpid())
        env = {**os.environ, **slot.env, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "COLUMNS": "120"}
        try:
            with open(folder / LOG_FILE, "ab") as log:
                log.write(f"== attempt {job['attempt'] + 1}: {' '.join(cmd[cmd.index('--') + 1:])}\n".encode())
                log.flush()
                proc = subprocess.Popen(cmd, cwd=folder, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True, env=env)
        except OSError as exc:
            self.table.transition(job["id"], State.failed, when=LIVE, ended_at=time.time(),
                                  error=f"cannot start the job in {folder}: {exc.strerror or exc}")
            return
        self.procs[job["id"]] = proc
        self.busy[index] = job["id"]
        self.table.update(job["id"], pid=proc.pid, pid_start=process_start(proc.pid))
        if self.table.get(job["id"])["state"] == State.stopping.value:  # stopped while it was starting
            _signal_group(proc.pid, signal.SIGTERM)


def reconcile(table: JobTable) -> list[int]:
    """At start-up, before serving: every running/stopping job of a previous server is
    ``interrupted`` (its process died with that server; one that somehow lives on is killed)."""
    marked = []
    for job in table.live():
        pid = job["pid"]
        if pid and job["pid_start"] and process_start(pid) == job["pid_start"]:
            _signal_group(pid, signal.SIGKILL)
        if table.transition(job["id"], State.interrupted, when=LIVE, ended_at=time.time(), pid=None,
                            error="the server stopped while it ran: resume it"):
            marked.append(job["id"])
    return marked
