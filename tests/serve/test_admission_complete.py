"""Admission's list of class places is complete, proved with jsonargparse itself.

The parser ``python -m autolit.fit`` uses (LightningCLI via build_cli) is built and walked: every
argument whose type jsonargparse would import a string for (a subclass type anywhere in it, a
callable, a type that returns a class) or read a string as a config file for (``enable_path``) must
be, in admission's own reading of the same parameter (:mod:`autolit.serve.admit.slots`), a place
where strings are refused or resolved against the allowlist. The same holds one level down, for
the parameters of every class the default allowlist admits (their ``init_args``), parsed the way
LightningCLI parses them. A Lightning upgrade that adds such an argument fails here until
admission covers it; string parameters and importer options must each have a reviewed role.
"""

from __future__ import annotations

import typing
from functools import lru_cache

import lightning as L
import pytest
from jsonargparse import ArgumentParser
from jsonargparse._actions import ActionConfigFile, _ActionConfigLoad
from jsonargparse._typehints import ActionTypeHint

from autolit.datamodules import StoreDataModule
from autolit.modules import AutoLitModule
from autolit.serve.admission import AdmissionError, admit_fit
from autolit.serve.admit import roles, sources
from autolit.serve.admit.classes import Allowlist
from autolit.serve.admit.fit import section_types
from autolit.serve.admit.slots import Slot, params_of
from tests.serve.admission_setup import digits, fit_parser, make_site, shipped

GROUPS = {"trainer": L.Trainer, "model": AutoLitModule, "data": StoreDataModule}


@lru_cache(maxsize=1)
def parser():
    return fit_parser()


def jsonargparse_imports(typehint) -> bool:
    """jsonargparse may import a string given for ``typehint`` (or for something inside it)."""
    if typehint is None:
        return False
    if (ActionTypeHint.is_subclass_typehint(typehint, all_subtypes=False, also_lists=True, also_closed=True)
            or ActionTypeHint.is_callable_typehint(typehint) or ActionTypeHint.is_return_subclass_typehint(typehint)
            or ActionTypeHint.is_module_typehint(typehint)):
        return True
    return any(jsonargparse_imports(arg) for arg in typing.get_args(typehint) if arg is not Ellipsis)


def sensitive(action) -> bool:
    return isinstance(action, ActionTypeHint) and (
        jsonargparse_imports(action._typehint) or getattr(action, "_enable_path", False))


def guarded(slot: Slot) -> bool:
    """Admission refuses or resolves strings at ``slot`` (or inside it)."""
    return slot.imports or slot.path or any(s is not None and guarded(s) for s in (slot.item, slot.values))


def slot_of(owner: type, dotted: str) -> Slot:
    """Admission's slot for a parameter path of ``owner`` (dataclass fields nest: ``theme.style``)."""
    first, _, rest = dotted.partition(".")
    slot = params_of(owner).slots[first]
    return slot_of(slot.record, rest) if rest and slot.record is not None else slot


def fit_slot(dest: str) -> Slot:
    section, _, rest = dest.partition(".")
    if section in GROUPS:
        return slot_of(GROUPS[section], rest)
    return section_types()[section]


def test_every_fit_argument_jsonargparse_imports_or_reads_for_is_guarded():
    checked = []
    for action in parser()._actions:
        if not sensitive(action) or action.dest.endswith(".help"):
            continue
        assert guarded(fit_slot(action.dest)), f"{action.dest}: jsonargparse imports or reads a string here"
        checked.append(action.dest)
    # the walk saw the places this file's hostile matrix attacks (a sanity check of the walk itself)
    assert {"optimizer", "lr_scheduler", "trainer.callbacks", "trainer.logger", "trainer.plugins",
            "trainer.strategy", "trainer.accelerator", "trainer.profiler"} <= set(checked)


def test_every_section_that_loads_a_config_file_refuses_a_string(tmp_path):
    site = make_site(tmp_path)
    loaders = [a.dest for a in parser()._actions if isinstance(a, (ActionConfigFile, _ActionConfigLoad))]
    assert {"config", "trainer", "model", "data"} <= set(loaders)
    for dest in loaders:
        with pytest.raises(AdmissionError) as refused:
            admit_fit(digits(**{dest: "other.yaml"}), site.roots, job_dir=site.job)
        assert refused.value.key == dest


def test_every_top_level_key_the_parser_takes_is_a_section_admission_knows():
    from autolit.serve.admit.fit import SECTIONS

    tops = {a.dest.split(".")[0] for a in parser()._actions if a.dest not in ("help", "config", "print_config")}
    assert tops <= set(SECTIONS)


def allowlisted() -> list[type]:
    return sorted(Allowlist().classes(), key=lambda c: f"{c.__module__}.{c.__qualname__}")


@pytest.mark.parametrize("cls", allowlisted(), ids=lambda c: c.__name__)
def test_every_init_argument_of_an_allowlisted_class_is_guarded_where_jsonargparse_imports(cls):
    class_parser = ArgumentParser(exit_on_error=False)
    try:
        class_parser.add_class_arguments(cls, "x", sub_configs=True, fail_untyped=False)
    except (ValueError, TypeError) as exc:  # jsonargparse cannot take it as init_args at all
        pytest.skip(f"jsonargparse does not parse {cls.__name__} arguments: {exc}")
    for action in class_parser._actions:
        if not action.dest.startswith("x.") or action.dest.endswith(".help"):
            continue
        param = action.dest[2:]
        if isinstance(action, _ActionConfigLoad):  # a dataclass group: a string there is a file
            assert slot_of(cls, param).record is not None, f"{cls.__name__}.{param} loads a config file"
        elif sensitive(action) and param.partition(".")[0] not in params_of(cls).slots:
            # jsonargparse follows **kwargs into the function they reach (WeightAveraging -> AveragedModel's
            # avg_fn): admission takes such keys as **kwargs, where no import path or path is admitted
            assert params_of(cls).kwargs, f"{cls.__name__}.{param}: a parameter admission does not see"
        elif sensitive(action):
            assert guarded(slot_of(cls, param)), f"{cls.__name__}.{param}: jsonargparse imports or reads here"


def test_every_string_parameter_has_a_reviewed_role():
    """A string parameter is a path admission checks, or plain text someone read and listed."""
    specials = {(StoreDataModule, "store"), (StoreDataModule, "source")}  # checked by admit/sources.py
    missing = []
    for cls in [*allowlisted(), L.Trainer, AutoLitModule, StoreDataModule]:
        for name, slot in params_of(cls).slots.items():
            takes_text = slot.text or slot.path or (slot.item is not None and slot.item.text)
            if takes_text and name not in roles.TEXT and roles.role(cls, name, slot) is None \
                    and (cls, name) not in specials:
                missing.append(f"{cls.__name__}.{name}")
    assert not missing, f"string parameters with no reviewed role: {missing}"


def test_every_importer_option_has_a_reviewed_role():
    import autolit.scrape.source  # noqa: F401 - registers the scrape source
    from autolit.scrape.serp import DEFAULT_SERPAPI_URL
    from autolit.serve.admit.errors import KEY_ENV
    from autolit.scrape.source import KEY_ENV as SCRAPE_KEY_ENV
    from autolit.store.importers import IMPORTERS

    options = {opt.name for imp in IMPORTERS.values() for opt in imp.options}
    assert options <= set(sources.OPTION_ROLES), f"options with no role: {sorted(options - set(sources.OPTION_ROLES))}"
    assert sources.SERPAPI_URL == DEFAULT_SERPAPI_URL and KEY_ENV == SCRAPE_KEY_ENV


@pytest.mark.parametrize("name", ["digits.yaml", "digits_parity.yaml", "digits_rotation.yaml", "mnist.yaml",
                                  "mnist_fast.yaml", "hymenoptera.yaml", "hymenoptera_pretrained.yaml"])
def test_shipped_configs_are_admitted_and_still_parse(tmp_path, shared_data, name):
    """With the shared data as the data root (the shipped configs' ../shared/data, from a job folder
    whose parent links there), every shipped fit config is admitted, and what admission returns
    (full class paths, absolute paths) parses with the real parser."""
    site = make_site(tmp_path)
    (site.home / "jobs" / "shared").symlink_to(shared_data.parent)
    roots = type(site.roots)(home=site.home, data_roots=(shared_data,))
    admitted = admit_fit(shipped(name), roots, job_dir=site.job)
    assert str(shared_data.resolve()) in str(admitted) or "digits" in name  # admission resolves links
    parser().parse_object(admitted)  # no instantiation: parse only


class TestTheThreatIsReal:
    """What admission refuses, jsonargparse would really do: import the payload, read the file."""

    @pytest.fixture
    def imported(self, monkeypatch):
        import jsonargparse._typehints as typehints

        seen: list[str] = []
        real = typehints.import_object

        def record(name, *args, **kwargs):
            seen.append(name)
            return real(name, *args, **kwargs)

        monkeypatch.setattr(typehints, "import_object", record)
        return seen

    @pytest.mark.parametrize("fragment", [
        {"lr_scheduler": {"class_path": "torch.optim.lr_scheduler.LambdaLR", "init_args": {"lr_lambda": "os.system"}}},
        {"optimizer": {"class_path": "os.system"}},
        {"trainer.callbacks": [{"class_path": "os.system"}]},  # a dotted top-level key is nested
        {"trainer": {"strategy": "{class_path: os.system}"}},  # a string is loaded as YAML first
    ], ids=["callable argument", "class_path", "dotted key", "yaml in a string"])
    def test_jsonargparse_imports_the_payload(self, tmp_path, imported, fragment):
        site = make_site(tmp_path)
        config = digits(**fragment)
        with pytest.raises(AdmissionError):
            admit_fit(config, site.roots, job_dir=site.job)
        try:
            parser().parse_object(config)
        except Exception:  # noqa: BLE001 - a refusal after the import still imported it
            pass
        assert "os.system" in imported

    def test_jsonargparse_reads_a_string_at_a_class_place_as_a_config_file(self, tmp_path):
        site = make_site(tmp_path)
        planted = site.elsewhere / "strategy"
        planted.write_text("read_from_the_file\n")
        config = digits(trainer={"strategy": str(planted)})
        with pytest.raises(AdmissionError):
            admit_fit(config, site.roots, job_dir=site.job)
        assert parser().parse_object(config).trainer.strategy.strip() == "read_from_the_file"
