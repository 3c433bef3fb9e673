"""autolit.system: the CPU quota of a container, and a parent that died before its child armed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from autolit import system
from tests.store.helpers import REPO, subprocess_env


@pytest.mark.parametrize(("text", "expected"), [
    ("150000 100000\n", 2),  # 1.5 CPUs: rounded up
    ("50000 100000\n", 1),   # half a CPU: at least 1
    ("max 100000\n", None),  # no quota
    ("garbage\n", None),
])
def test_a_cgroup_cpu_quota_caps_usable_cpus(tmp_path, monkeypatch, text, expected):
    monkeypatch.setattr(system.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    (tmp_path / "cpu.max").write_text(text)
    monkeypatch.setattr(system, "CGROUP_CPU_MAX", tmp_path / "cpu.max")
    assert system.usable_cpus() == (64 if expected is None else expected)  # was: 64 whatever the quota
    monkeypatch.setattr(system, "CGROUP_CPU_MAX", tmp_path / "absent")
    assert system.usable_cpus() == 64


# The middle process starts a multiprocessing child and dies at once; the child then arms
# die_with_parent() without an argument, as a DataLoader worker does (or, as the control, does not).
_ORPHAN = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from pathlib import Path

    def child(flag, folder, arm):
        while not Path(flag).exists():
            time.sleep(0.02)
        from autolit.system import die_with_parent
        Path(folder, "reached").write_text("")  # the child got this far: it did not crash on the way
        if arm == "1":
            die_with_parent()
        time.sleep(0.2)
        Path(folder, "survived").write_text("")

    if __name__ == "__main__":
        multiprocessing.get_context("fork").Process(target=child, args=sys.argv[1:4]).start()
        os._exit(0)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and PR_SET_PDEATHSIG are Linux")
@pytest.mark.parametrize("arm", [True, False], ids=["armed", "control-unarmed"])
def test_die_with_parent_without_argument_notices_a_parent_already_gone(tmp_path, arm):
    """Armed, the orphan dies at the call; the unarmed control shows the harness sees a survivor."""
    flag = tmp_path / "go"
    subprocess.run([sys.executable, "-c", _ORPHAN, str(flag), str(tmp_path), "1" if arm else "0"],
                   env=subprocess_env(), cwd=REPO, check=True, timeout=60)
    flag.write_text("")  # the parent is gone: now the child arms
    deadline = time.time() + 10
    while not (tmp_path / "reached").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "reached").exists()  # else a crash before arming would pass for a death
    time.sleep(1.5)
    marker = tmp_path / "survived"
    if not arm:
        assert marker.exists()
        return
    assert not marker.exists()  # was: getppid() at the call named init (or a subreaper) as the parent
