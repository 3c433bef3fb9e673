"""Export folders and checkpoints that were truncated or edited: one line naming the file, exit 2.

Each case damages a copy of a real export (or checkpoint) the way a bad copy, a full disk or a
hand edit would, then runs the CLI's ``main`` under ``run_cli`` (what ``python -m`` runs): never a
traceback, never an attempt to allocate what a tampered size asks for.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from autolit import export, predict
from autolit.errors import run_cli


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, str]]:
    """Run an entry point's ``main(argv)`` as ``python -m`` would: (exit code, stderr)."""
    def run(module, *argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exc:
            run_cli(lambda: module.main([str(a) for a in argv]))
        return exc.value.code, capsys.readouterr().err
    return run


def _one_error_line(result: tuple[int, str], pattern: str) -> None:
    code, err = result
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.search(pattern, lines[0]), err


@pytest.fixture
def export_copy(digits_export, tmp_path) -> Path:
    out = tmp_path / "export"
    shutil.copytree(digits_export.out_dir, out)
    return out


@pytest.mark.parametrize("runtime, name", [("onnx", "model.onnx"), ("torchscript", "model.pt")])
def test_truncated_model_file_names_the_file(cli, export_copy, digit_pngs, runtime, name):
    path = export_copy / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    result = cli(predict, export_copy, digit_pngs[0][0], "--runtime", runtime)
    _one_error_line(result, rf"error: .*{name} cannot be opened by {runtime} .*fix: re-export it")


@pytest.mark.parametrize("edit, pattern", [
    ({"image_size": 100000}, r"image_size 100000 is not an integer in 1\.\.4096"),
    ({"channels": 2}, r"channels 2 is not 1 or 3"),
    ({"std": [0.0]}, r"std \[0\.0\] has a value <= 0"),
    ({"task": "clustering"}, r"preprocessing\.json: task: unknown task 'clustering'"),
])
def test_edited_preprocessing_is_refused_before_any_decode(cli, export_copy, digit_pngs, edit, pattern):
    path = export_copy / "preprocessing.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    _one_error_line(cli(predict, export_copy, digit_pngs[0][0]), pattern)


def test_truncated_preprocessing_and_labels(cli, export_copy, digit_pngs):
    (export_copy / "labels.json").write_text('{"0": "zero", "1"')
    _one_error_line(cli(predict, export_copy, digit_pngs[0][0]), r"labels\.json is not a valid label map")
    (export_copy / "preprocessing.json").write_text("{")
    _one_error_line(cli(predict, export_copy, digit_pngs[0][0]), r"preprocessing\.json is not a valid preprocessing file")


def test_checkpoint_with_a_tampered_input_shape_is_refused(cli, digits_ckpt, tmp_path):
    """A shape that would need terabytes for the example input is refused before anything is built."""
    ckpt = torch.load(digits_ckpt, weights_only=True, map_location="cpu")
    ckpt["hyper_parameters"]["input_shape"] = [3, 100000, 100000]
    bad = tmp_path / "huge.ckpt"
    torch.save(ckpt, bad)
    _one_error_line(cli(export, bad, "--out", tmp_path / "out"), r"huge\.ckpt: hyper_parameters\.input_shape \[3, 100000, 100000\] is not a list of "
                          r"1-3 sizes in 1\.\.4096")


def test_truncated_checkpoint(cli, digits_ckpt, tmp_path):
    bad = tmp_path / "cut.ckpt"
    bad.write_bytes(digits_ckpt.read_bytes()[:5000])
    _one_error_line(cli(export, bad, "--out", tmp_path / "out"), r"checkpoint .*cut\.ckpt cannot be read .*fix: pass an intact \.ckpt")


@pytest.mark.parametrize("where", ["file", "sysfs"])
def test_export_where_nothing_can_be_written(cli, digits_ckpt, tmp_path, where):
    """--out under a regular file, or on a read-only filesystem (root cannot write /sys either)."""
    if where == "file":
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "out"
    else:
        out = Path("/sys/autolit-export-test")
    _one_error_line(cli(export, digits_ckpt, "--out", out), rf"--out {out}: cannot write there \(.+\); fix: pick a folder you can write to")


@pytest.mark.parametrize("name", ["preprocessing.json", "labels.json", "metadata.json"])
def test_unreadable_bundle_file_names_the_file(cli, export_copy, digit_pngs, name):
    """A folder where the file should be (OSError, not FileNotFoundError) is one line, not a traceback."""
    (export_copy / name).unlink()
    (export_copy / name).mkdir()
    _one_error_line(cli(predict, export_copy, digit_pngs[0][0]),
                    rf"error: .*{re.escape(name)} cannot be read \(Is a directory\); fix: make it a readable file")
