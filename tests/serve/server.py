"""A real ``python -m autolit.serve`` on a free 127.0.0.1 port, and what tests ask of it.

Tests talk to it with httpx over TCP, as a client on another machine would; nothing is faked.
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from autolit.serve.runner import group_alive  # noqa: F401 - the tests' look at a job's processes

REPO = Path(__file__).resolve().parents[2]
ENDED = {"succeeded", "failed", "stopped", "interrupted"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One server process (its own session, so a test can SIGKILL it and look for leftovers)."""

    def __init__(self, home: Path, data_root: Path, *args: str, token: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.home, self.data_root, self.args, self.token = home, data_root, list(args), token
        self.env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> "Server":
        env = {**os.environ, "PYTHONPATH": str(REPO), **self.env}
        if self.token:
            env["AUTOLIT_TOKEN"] = self.token
        cmd = [sys.executable, "-m", "autolit.serve", "--home", str(self.home), "--data-root", str(self.data_root),
               "--port", str(self.port), *self.args]
        self.log = open(self.home.parent / f"server-{self.port}.log", "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.home.parent, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.output()}")
            try:
                httpx.get(f"{self.url}/openapi.json", headers=self.headers(), timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError(f"server did not answer within {timeout}s: {self.output()}")

    def output(self) -> str:
        return (self.home.parent / f"server-{self.port}.log").read_text(errors="replace")[-3000:]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=kwargs.pop("timeout", 120), **kwargs)

    def stop(self) -> None:
        """Ctrl-C (SIGINT), as a user stops it; idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()

    def kill(self) -> None:
        """SIGKILL: no cleanup in the server."""
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def wait_for(client: httpx.Client, job_id: int, states: set[str], timeout: float = 240.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.3)
    log = client.get(f"/api/jobs/{job_id}/log").json()["text"][-3000:]
    raise AssertionError(f"job {job_id} is {job['state']}, not {states}, after {timeout}s; log:\n{log}")


def tiny_fit(store: Path, **trainer: Any) -> dict:
    """A fit config on the tiny synthetic store (tests/synthetic.py) that trains in seconds."""
    return {
        "seed_everything": 0,
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 1,
                    "enable_progress_bar": False, **trainer},
        "model": {"task": "multiclass", "layers": [
            {"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}, {"ReLU": {}},
            {"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}]},
        "data": {"store": str(store), "batch_size": 16, "cache": "none"},  # a data root is read-only
        "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}},
    }


def job_request(config: dict, name: str = "job", kind: str = "fit", **extra: Any) -> dict:
    return {"kind": kind, "name": name, "config": yaml.safe_dump(copy.deepcopy(config)), **extra}

