"""A fit config's values, checked by key before anything is built.

The fit CLI runs :func:`check_config` on the parsed config (every default filled in) right after
parsing: before the seed is set, the store read or imported, the model built or Lightning's
Trainer sees a value. The search runs it on the config its trials get (overrides and the space's
ends applied) before any worker starts. :func:`rephrase_typed_error` words jsonargparse's refusal
of a value of the wrong type (``--trainer.precision=17``: a 400-character union dump) the same way.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Mapping
from typing import Any

import yaml

from autolit.errors import UserError, invalid_value
from autolit.training.optim_checks import SECTIONS, check_section
from autolit.training.rules import Rule, check_rules, describe
from autolit.training.runinfo import plain_dict
from autolit.training.trainer_checks import OWNER, check_trainer, rules
from autolit.training.trainer_checks import names as trainer_names

MAPPINGS = ("trainer", "model", "data")
# Lightning's own ckpt_path keywords: each names a checkpoint of the running Trainer, which a new fit has not got.
TRAINER_KEYWORDS = ("best", "hpc", "registry")


def _seed_rule() -> Rule:
    from lightning.fabric.utilities.seed import max_seed_value, min_seed_value

    def test(v: Any) -> bool:
        return isinstance(v, bool) or isinstance(v, int) and min_seed_value <= v <= max_seed_value
    return (test, f"an integer in [{min_seed_value}, {max_seed_value}], true (a random seed, recorded in "
                  "resolved.yaml) or false (no seeding)", "0")


def _ckpt_rule() -> Rule:
    def test(v: Any) -> bool:
        return isinstance(v, str) and bool(v.strip()) and v.split(":")[0] not in TRAINER_KEYWORDS
    return (test, "last (the newest run of this config) or the path of a .ckpt file written by autolit.fit",
            "last")


TOP_RULES = {"seed_everything": _seed_rule, "ckpt_path": _ckpt_rule}


def check_config(config: Mapping[str, Any], *, machine: bool = True) -> None:
    """Refuse the first bad value by key; ``machine``: also what this machine must have (the accelerator)."""
    for section in MAPPINGS:
        value = config.get(section)
        if value is not None and not (hasattr(value, "as_dict") or isinstance(value, dict)):
            raise UserError(f"{section}: {value!r} is not a mapping of {_owner(section).__name__} arguments; "
                            f"fix: e.g. {section}: {{{_example_key(section)}}}")
    check_rules("", "autolit.fit", {k: config.get(k) for k in TOP_RULES}, {k: rule() for k, rule in TOP_RULES.items()})
    check_trainer(plain_dict(config.get("trainer")), machine=machine)
    for section in SECTIONS:
        spec = config.get(section)
        spec = plain_dict(spec) if hasattr(spec, "as_dict") or isinstance(spec, dict) else {}
        if spec.get("class_path"):
            check_section(section, spec["class_path"], plain_dict(spec.get("init_args")))
    from autolit.datamodules.arguments import check_data_args
    from autolit.modules.arguments import check_model_args

    for section, check in (("model", check_model_args), ("data", check_data_args)):
        check(**_with_defaults(section, plain_dict(config.get(section)), check))


def _with_defaults(section: str, given: dict[str, Any], check: Any) -> dict[str, Any]:
    """The arguments ``check`` takes, from ``given`` or else the class's defaults (unknown keys: the parser's)."""
    params = inspect.signature(_owner(section).__init__).parameters
    return {name: given.get(name, params[name].default) for name in inspect.signature(check).parameters}


def _owner(section: str) -> type:
    if section == "trainer":
        from lightning import Trainer

        return Trainer
    if section == "data":
        from autolit.datamodules import StoreDataModule

        return StoreDataModule
    from autolit.modules import AutoLitModule

    return AutoLitModule


def _example_key(section: str) -> str:
    return {"trainer": "max_epochs: 10", "model": "preset: mlp", "data": "store: stores/digits"}[section]


def rephrase_typed_error(message: str) -> str | None:
    """One line for jsonargparse's refusal of a ``trainer.*``/``data.*``/``model.*`` or top-level value
    by type (``Parser key "trainer.precision": Does not validate against any of the Union subtypes …
    Given value: 17``), or None for any other message."""
    found = re.match(r'Parser key "([A-Za-z_]+(?:\.[A-Za-z_]+)?)":', message)
    if found is None:
        return None
    key = found.group(1)
    section, _, arg = key.rpartition(".")
    given = re.search(r"(?:Given value|Got value): (.*)\Z", message.strip())
    value = _scalar(given.group(1)) if given else "?"
    if not section and arg in TOP_RULES:
        _, must, example = TOP_RULES[arg]()
        return str(invalid_value(key, value, "autolit.fit", must, example))
    if section not in MAPPINGS:
        return None
    if section == "trainer" and arg in rules():
        _, must, example = rules()[arg]
        return str(invalid_value(key, value, OWNER, must, example, trainer_names().get(arg, ())))
    params = inspect.signature(_owner(section).__init__).parameters
    if arg not in params:
        return None
    hint = typing.get_type_hints(_owner(section).__init__).get(arg, params[arg].annotation)
    default = params[arg].default
    example = "null (the default)" if default is None else yaml.safe_dump(default, default_flow_style=True).strip()
    return str(invalid_value(key, value, _owner(section).__name__, describe(hint) or "null", example.removesuffix("\n...")))


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
