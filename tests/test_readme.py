"""Every ``python -m autolit.…`` command the README shows names a real command and real options.

The README is what a new user types. Each command line is parsed into its module, its subcommand
words (``store import digits``, ``search best``) and its ``--options``; the command's own ``--help``
must succeed and list every option used, so a renamed flag or subcommand fails here rather than in a
user's terminal. (Running every command for real is the quick start's and the CLI tests' job.)
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORD = re.compile(r"[a-z][a-z_]*")


def readme_commands() -> list[str]:
    """The ``python -m autolit.*`` lines of the README's bash blocks (continuations joined)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].split(" # ")[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("python -m autolit."):
                    lines.append(part)
    return lines


def parse(command: str) -> tuple[list[str], list[str]]:
    """(``[module, *subcommand words]``, the ``--options`` used) of one command line."""
    tokens = shlex.split(command)[2:]  # after `python -m`
    words = [tokens[0]]
    for token in tokens[1:]:
        if not WORD.fullmatch(token):
            break
        words.append(token)
    options = [t.split("=")[0] for t in tokens if t.startswith("--")]
    return words, options


@functools.cache
def help_text(words: tuple[str, ...]) -> str:
    proc = subprocess.run([sys.executable, "-m", *words, "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"python -m {' '.join(words)} --help failed: {proc.stderr[-2000:]}"
    return proc.stdout


COMMANDS = readme_commands()


def test_the_readme_shows_the_main_commands() -> None:
    modules = {parse(c)[0][0] for c in COMMANDS}
    assert {"autolit.fit", "autolit.store", "autolit.search", "autolit.export", "autolit.predict",
            "autolit.serve", "autolit.scrape"} <= modules, modules


@pytest.mark.parametrize("command", COMMANDS)
def test_a_readme_command_uses_options_its_help_lists(command: str) -> None:
    words, options = parse(command)
    text = help_text(tuple(words))
    missing = [o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text)]
    assert not missing, f"{command}: python -m {' '.join(words)} --help does not list {missing}"
