"""The entry points' common exit paths (autolit.errors.run_cli)."""

from __future__ import annotations

import subprocess
import sys

MANY_LINES = "from autolit.errors import run_cli; run_cli(lambda: [print('row ' * 20) for _ in range(200_000)])"


def test_a_reader_that_goes_away_ends_the_output_quietly():
    """`python -m autolit.predict … | head` or `store info --json | head`: no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-c", MANY_LINES], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"row ")
    proc.stdout.close()  # as head does after its lines
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, stderr  # 128 + SIGPIPE, as a shell tool would end
    assert stderr == ""


def test_a_user_error_is_one_line_and_exit_2():
    code = "from autolit.errors import UserError, run_cli\ndef main():\n    raise UserError('data.store: x is bad;\\n fix: y')\nrun_cli(main)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr == "error: data.store: x is bad; fix: y\n"
