"""What ``--config FILE`` holds, checked before jsonargparse reads it.

jsonargparse answers a file that is no fit config at all (a YAML list, plain text, an empty file, a
mapping of unknown sections, a search config) with ``Unexpected config: …`` or ``Option 'x' is not
accepted``, and a folder or a missing file with its own ``Parser key "config"`` text. Here each
case is one line naming the file, what it holds instead and the fix: for a file that is no fit
config, the smallest runnable one (:data:`SMALLEST`, the shape of ``configs/digits.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from autolit.errors import UserError, one_line, suggest

# The sections a fit config is made of (the parser also takes `resolved:`, which autolit writes).
FIT_SECTIONS = ("trainer", "model", "data", "optimizer", "lr_scheduler", "seed_everything", "ckpt_path")
SEARCH_KEYS = ("fit_config", "space")
# The smallest config `python -m autolit.fit --config` runs (tests/training/test_config_file.py runs it).
SMALLEST: dict[str, Any] = {"model": {"preset": "mlp"}, "data": {"store": "stores/digits", "source": "digits"},
                            "trainer": {"max_epochs": 10}}


def smallest() -> str:
    """:data:`SMALLEST` as one line of flow-style YAML, as a message shows it."""
    return yaml.safe_dump(SMALLEST, default_flow_style=True, sort_keys=False).strip()


def config_values(argv: Sequence[str]) -> list[str]:
    """The values of every ``--config``/``-c`` in ``argv``."""
    values = []
    for i, arg in enumerate(argv):
        if arg in ("--config", "-c") and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif arg.startswith("--config="):
            values.append(arg.split("=", 1)[1])
    return values


def check_config_file(value: str, accepted: Iterable[str]) -> None:
    """Refuse a ``--config`` value that is no readable fit config; ``accepted``: the parser's top-level keys."""
    path = Path(value)
    if not path.exists():
        inline = _inline(value)  # jsonargparse also takes the config's text itself: --config '{trainer: …}'
        if inline is None:
            raise UserError(f"--config {value} does not exist; fix: check the path (e.g. configs/digits.yaml)")
        return _check_content("--config text", inline, set(accepted))
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.y*ml"))[:4]
        some = f"one of its YAML files ({', '.join(found)})" if found else "a YAML file (it holds none)"
        raise UserError(f"--config {value} is a folder, not a config file; fix: give {some}")
    where = f"--config {value}"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{where} is not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}): "
                        "save it as UTF-8") from None
    except OSError as exc:
        raise UserError(f"{where} cannot be read ({exc.strerror or exc}): check its permissions") from None
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{where} is not valid YAML ({_yaml_problem(exc)}); fix: correct it there "
                        "(configs are read with yaml.safe_load: plain YAML, no Python tags)") from None
    if content is None:
        what = "holds only comments" if text.strip() else "is empty"
        raise UserError(f"{where} {what}; {_what_a_config_is()}")
    _check_content(where, content, set(accepted))


def _inline(value: str) -> Any:
    try:
        content = yaml.safe_load(value)
    except yaml.YAMLError:
        return None
    return content if isinstance(content, (dict, list)) else None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return one_line(f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem, 300)


def _what_a_config_is() -> str:
    sections = ", ".join(f"{s}:" for s in FIT_SECTIONS)
    return (f"a fit config is a YAML mapping of {sections} sections; fix: start from configs/digits.yaml, or "
            f"from the smallest config that runs: {smallest()}")


def _check_content(where: str, content: Any, accepted: set[str]) -> None:
    if isinstance(content, list):
        raise UserError(f"{where} holds a YAML list of {len(content)} item{'s' * (len(content) != 1)}, not a fit "
                        f"config; {_what_a_config_is()}")
    if not isinstance(content, dict):
        what = f"plain text ({one_line(content, 60)!r})" if isinstance(content, str) else f"a single value ({content!r})"
        raise UserError(f"{where} holds {what}, not a fit config; {_what_a_config_is()}")
    keys = [str(k) for k in content]
    unknown = [k for k in keys if k not in accepted]
    if not unknown:
        return
    if len(unknown) == len(keys):
        _no_fit_section(where, content, keys)
    names = ", ".join(f"{k!r}{suggest(k, FIT_SECTIONS)}" for k in unknown)
    raise UserError(f"{where}: {'an unknown section' if len(unknown) == 1 else 'unknown sections'} {names}; "
                    f"fix: rename or remove {'it' if len(unknown) == 1 else 'them'} (a fit config's sections: "
                    f"{', '.join(FIT_SECTIONS)})")


def _no_fit_section(where: str, content: dict, keys: list[str]) -> None:
    search = [k for k in SEARCH_KEYS if k in content]
    if search:
        path = where.removeprefix("--config ")
        raise UserError(f"{where} is a search config (it has {' and '.join(f'{k}:' for k in search)}), not a fit "
                        f"config; fix: run it with python -m autolit.search --config {path}")
    nested = [k for k, v in content.items() if isinstance(v, dict) and set(map(str, v)) & set(FIT_SECTIONS)]
    if nested:
        raise UserError(f"{where} holds its sections under {nested[0]!r}: (LightningCLI's subcommand form); fix: "
                        f"move {', '.join(sorted(set(map(str, content[nested[0]])) & set(FIT_SECTIONS)))} "
                        "to the top level")
    names = ", ".join(f"{k}{suggest(k, FIT_SECTIONS)}" for k in keys[:8]) + (", …" if len(keys) > 8 else "")
    raise UserError(f"{where} has no fit section (its keys: {names}); {_what_a_config_is()}")
