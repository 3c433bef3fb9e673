"""A service's folders for admission tests: home with a job folder, a data root, a folder outside
both, and the links a hostile user would plant (inside home and inside the data root, out to /etc).

Named for admission so the serve tests' own conftest.py (on another branch) never collides.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autolit.serve.admission import Roots

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Site:
    home: Path
    job: Path
    data: Path
    elsewhere: Path
    roots: Roots

    def hostile_paths(self) -> dict[str, str]:
        """Paths every path place must refuse, by what they try."""
        return {
            "etc": "/etc",
            "climb": "../" * 12 + "etc",
            "link_in_home": str(self.job / "out_link" / "passwd"),
            "link_in_data_root": str(self.data / "etc_link"),
            "other_tmp": str(self.elsewhere / "x"),
            "nul": "ok\0/../../etc",
            "tilde": "~/x",
            "url": "file:///etc/passwd",
        }


def make_site(tmp: Path) -> Site:
    home, data, elsewhere = tmp / "home", tmp / "data", tmp / "elsewhere"
    job = home / "jobs" / "1"
    for folder in (job, data / "pics" / "cat", data / "mnist", elsewhere, data / "pics_bad" / "cat"):
        folder.mkdir(parents=True)
    (data / "pics" / "cat" / "a.png").write_bytes(b"")
    (data / "rows.csv").write_text("path,target\npics/cat/a.png,1.5\n")
    (data / "rows_out.csv").write_text("path,target\n../../../../../../etc/passwd,1.5\n")
    (job / "out_link").symlink_to("/etc")
    (data / "etc_link").symlink_to("/etc")
    (data / "pics_bad" / "cat" / "x.png").symlink_to("/etc/passwd")
    return Site(home, job, data, elsewhere, Roots(home=home, data_roots=(data,)))


def shipped(name: str) -> dict:
    return yaml.safe_load((REPO / "configs" / name).read_text())


def merged(base: dict, fragment: dict) -> dict:
    """``base`` with ``fragment`` laid over it (mappings merge, anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "class_path" not in value:
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def digits(**fragment: Any) -> dict:
    """configs/digits.yaml with ``fragment`` laid over it."""
    return merged(shipped("digits.yaml"), fragment)


def fit_parser():
    """The parser ``python -m autolit.fit`` parses with (build_cli's LightningCLI), stopped before it
    parses anything: LightningCLI builds and parses in one constructor, so parse_arguments hands the
    parser out instead."""
    import warnings

    from autolit.training import cli

    class Built(Exception):
        pass

    def hand_out(self, parser, args):
        raise Built(parser)

    original = cli.AutoLitCLI.parse_arguments
    cli.AutoLitCLI.parse_arguments = hand_out
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cli.build_cli({}, run_dir="runs/parser-only")
    except Built as built:
        return built.args[0]
    finally:
        cli.AutoLitCLI.parse_arguments = original
    raise AssertionError("build_cli did not reach parse_arguments")
