"""Search configs: the fit config they name, their overrides and every space choice are admitted
where a trial puts them; errors name the search config's own key."""

from __future__ import annotations

import copy

import pytest
import yaml

from autolit.serve.admission import AdmissionError, admit_search
from tests.serve.admission_setup import REPO, digits, make_site


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


def search(**parts) -> dict:
    base = yaml.safe_load((REPO / "configs" / "search" / "digits.yaml").read_text())
    for part, value in parts.items():
        base[part] = {**(base.get(part) or {}), **value} if isinstance(value, dict) else value
    return base


def refused(site, config, fit=None) -> AdmissionError:
    with pytest.raises(AdmissionError) as refusal:
        admit_search(config, site.roots, job_dir=site.job, fit_config=fit or digits())
    return refusal.value


def categorical(*choices):
    return {"type": "categorical", "choices": list(choices)}


@pytest.mark.parametrize(("part", "key", "value", "where"), [
    ("overrides", "trainer.callbacks", [{"class_path": "subprocess.Popen"}],
     "overrides.trainer.callbacks[0].class_path"),
    ("overrides", "optimizer.class_path", "os.system", "overrides.optimizer.class_path"),
    ("overrides", "lr_scheduler.lr_lambda", "os.system", "overrides.lr_scheduler.lr_lambda"),  # via init_args
    ("overrides", "data.store", "/etc/x", "overrides.data.store"),
    ("overrides", "trainer.default_root_dir", "../../../../../../etc", "overrides.trainer.default_root_dir"),
    ("space", "optimizer.class_path", categorical("torch.optim.SGD", "builtins.eval"),
     "space.optimizer.class_path.choices[1]"),
    ("space", "trainer.logger", categorical(False, "subprocess.Popen"), "space.trainer.logger.choices[1]"),
    ("space", "data.source", categorical("digits", "folder:/etc"), "space.data.source.choices[1]"),
    ("space", "data.store", categorical("stores/a", "../../../../../../etc"), "space.data.store.choices[1]"),
    ("space", "trainer.default_root_dir", categorical("out", "/etc"), "space.trainer.default_root_dir.choices[1]"),
])
def test_overrides_and_space_choices_are_admitted_where_a_trial_puts_them(site, part, key, value, where):
    assert refused(site, search(**{part: {key: value}})).key == where


def test_choices_combine_when_one_keys_rule_depends_on_another(site):
    """A store in a data root may be read only with data.cache: none. Each choice passes alone (with
    the fit config's home store and cache: none); the combination of the two does not."""
    store = site.data / "store"
    store.mkdir()
    fit = digits(data={"store": "stores/a", "source": None, "cache": "none"})
    space = {"data.store": categorical("stores/a", str(store)), "data.cache": categorical("none", "decoded")}
    for key, spec in space.items():  # alone
        admit_search(search(space={key: spec}), site.roots, job_dir=site.job, fit_config=fit)
    assert refused(site, search(space=space), fit).key == "space.data.cache.choices[1]"


def test_the_layer_spaces_backbone_weights_are_checked_choice_by_choice(site):
    layers = [{"Backbone": {"name": "resnet18", "weights": categorical("imagenet", "w.safetensors", "/etc/passwd")}},
              {"Linear": {"out_features": "n_labels"}}]
    where = refused(site, search(space={"model.layers": layers})).key
    assert where == "space.model.layers[0].Backbone.weights.choices[2]"
    layers[0]["Backbone"]["weights"]["choices"].pop()
    out = admit_search(search(space={"model.layers": layers}), site.roots, job_dir=site.job, fit_config=digits())
    weights = out["space"]["model.layers"][0]["Backbone"]["weights"]
    assert weights["choices"] == ["imagenet", str(site.job / "w.safetensors")]


def test_a_class_spec_anywhere_in_the_layer_space_is_refused(site):
    layers = [{"repeat": {"low": 1, "high": 2}, "layers": [{"Linear": {"out_features": {"class_path": "os.system"}}}]}]
    assert refused(site, search(space={"model.layers": layers})).key.endswith("Linear.out_features.class_path")


def test_the_named_fit_config_is_admitted_and_its_path_checked(site):
    fit = digits(trainer={"callbacks": ["os.system"]})
    assert refused(site, search(), fit).key == "fit_config.trainer.callbacks[0]"
    assert refused(site, search(fit_config="/etc/passwd")).key == "fit_config"


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../x"])
def test_the_study_name_is_one_folder_name(site, name):
    assert refused(site, search(study={"name": name})).key == "study.name"


def test_study_settings_hold_no_class_specs(site):
    sampler = {"type": "TPESampler", "gamma": {"class_path": "os.system"}}
    assert refused(site, search(study={"sampler": sampler})).key == "study.sampler.gamma.class_path"


def test_too_many_combinations_to_check_are_refused(site):
    space = {f"trainer.{k}": categorical(*[f"v{i}" for i in range(10)])
             for k in ("strategy", "accelerator", "profiler")}
    assert refused(site, search(space=space)).key == "space"


def test_shipped_search_configs_are_admitted_with_paths_made_absolute(tmp_path, shared_data):
    site = make_site(tmp_path)
    (site.home / "jobs" / "shared").symlink_to(shared_data.parent)
    roots = type(site.roots)(home=site.home, data_roots=(shared_data,))
    for path in sorted((REPO / "configs" / "search").glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        fit = yaml.safe_load((path.parent / config["fit_config"]).read_text())
        before = copy.deepcopy(config)
        out = admit_search(config, roots, job_dir=site.job, fit_config=fit)
        assert config == before  # a new dict comes back
        assert out["fit_config"] == str(site.job.parent / config["fit_config"].removeprefix("../"))
        assert out["overrides"] == config["overrides"]  # no path, no class among them
        assert "../shared" not in str(out["space"])
