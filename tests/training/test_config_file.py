"""A ``--config`` that is no fit config at all is one line naming the file, what it holds and the
smallest config that runs (was jsonargparse's ``Unexpected config: …`` / ``Option 'x' is not accepted``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autolit.training.cli import AutoLitParser
from autolit.training.config_file import FIT_SECTIONS, SMALLEST, smallest
from tests.training.conftest import base_config, error_line, run_inprocess, write_config

REPO = Path(__file__).resolve().parents[2]


def _fit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autolit.fit", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


# name → (file content, what the one line must say after the file's name)
NOT_A_CONFIG = {
    "a YAML list": ("- trainer\n- model\n", "holds a YAML list of 2 items"),
    "plain text": ("train a digits model please\n", "holds plain text"),
    "unknown sections": ("modle: {preset: mlp}\ndat: {store: stores/digits}\n", "has no fit section"),
    "a search config": ((REPO / "configs" / "search" / "digits.yaml").read_text(), "is a search config"),
}


@pytest.mark.parametrize("case", sorted(NOT_A_CONFIG))
def test_a_file_that_is_no_fit_config_through_python_m_fit(case, tmp_path):
    content, says = NOT_A_CONFIG[case]
    (tmp_path / "bad.yaml").write_text(content)
    proc = _fit("--config", "bad.yaml", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = error_line(proc.stderr)
    assert line.startswith(f"error: --config bad.yaml {says}"), line
    if case == "a search config":
        assert line.endswith("python -m autolit.search --config bad.yaml")
    else:
        assert line.endswith(smallest())
    if case == "unknown sections":
        assert "modle (did you mean 'model'?)" in line and "dat (did you mean 'data'?)" in line


@pytest.mark.parametrize("content, says", [
    ("", "is empty"),
    ("# a config will go here\n\n# later\n", "holds only comments"),
    ("42\n", "holds a single value (42)"),
    ("fit:\n  model: {preset: mlp}\n  data: {store: s}\n", "holds its sections under 'fit':"),
    ("trainer: {max_epochs: 1}\nmodle: {preset: mlp}\n", ": an unknown section 'modle' (did you mean 'model'?)"),
    ("trainer: [\n", "is not valid YAML (line 2, column 1"),
])
def test_other_files_that_are_no_fit_config(content, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(content)
    code, err = run_inprocess(monkeypatch, capsys, "--config", "c.yaml")
    assert code == 2 and error_line(err).startswith(f"error: --config c.yaml{'' if says[0] == ':' else ' '}{says}"), err


@pytest.mark.parametrize("make, says", [
    (lambda d: d.mkdir(), "is a folder, not a config file; fix: give a YAML file (it holds none)"),
    (lambda d: (d.mkdir(), (d / "a.yaml").write_text("{}")), "is a folder, not a config file; fix: give one of its "
                                                              "YAML files (a.yaml)"),
    (lambda d: None, "does not exist"),
])
def test_a_folder_or_a_missing_file(make, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make(tmp_path / "conf")
    code, err = run_inprocess(monkeypatch, capsys, "--config", "conf")
    assert code == 2 and error_line(err).startswith(f"error: --config conf {says}"), err


def test_config_text_given_inline_is_still_a_config(tiny_store, tmp_path, monkeypatch, capsys):
    """jsonargparse takes the config's text itself too (``--config '{...}'``); a list there is no config."""
    monkeypatch.chdir(tmp_path)
    code, err = run_inprocess(monkeypatch, capsys, "--config", "[1, 2]")
    assert code == 2 and error_line(err).startswith("error: --config text holds a YAML list of 2 items"), err
    inline = yaml.safe_dump(base_config(tiny_store), default_flow_style=True)
    code, err = run_inprocess(monkeypatch, capsys, "--config", inline, "--trainer.accumulate_grad_batches=0")
    assert code == 2 and error_line(err).startswith("error: trainer.accumulate_grad_batches: 0"), err


def test_the_smallest_config_shown_runs(tmp_path):
    """The message's example is what it says: written out as shown, python -m autolit.fit runs it
    (one epoch here; as shown, 10 epochs, it ends at test/acc ~0.95)."""
    (tmp_path / "list.yaml").write_text("- a\n")
    shown = error_line(_fit("--config", "list.yaml", cwd=tmp_path).stderr).split("the smallest config that runs: ")[1]
    assert yaml.safe_load(shown) == SMALLEST
    (tmp_path / "smallest.yaml").write_text(shown + "\n")
    proc = _fit("--config", "smallest.yaml", "--trainer.max_epochs=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test/acc" in proc.stdout and (tmp_path / "stores" / "digits").is_dir()


def test_the_sections_named_are_those_the_parser_takes(tiny_store, tmp_path):
    from autolit.training.cli import build_cli

    cli = build_cli(base_config(tiny_store), run_dir=tmp_path / "run", progress=False)
    assert isinstance(cli.parser, AutoLitParser)
    taken = {action.dest.split(".")[0] for action in cli.parser._actions}
    assert set(FIT_SECTIONS) <= taken


def test_a_config_split_over_two_files_is_checked_as_one(tiny_store, tmp_path, monkeypatch, capsys):
    """A config split over two files (sections in each) is not refused by the per-file check."""
    monkeypatch.chdir(tmp_path)
    config = base_config(tiny_store)
    trainer = write_config(tmp_path / "trainer.yaml", {"trainer": {**config.pop("trainer"), "max_epochs": 0}})
    rest = write_config(tmp_path / "rest.yaml", config)
    code, err = run_inprocess(monkeypatch, capsys, "--config", rest, "--config", trainer)
    assert code == 2 and error_line(err).startswith("error: trainer.max_epochs: 0 "), err
