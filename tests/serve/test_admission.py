"""Config admission refuses hostile fit configs at every class place and every path place, by key.

Classes: every place LightningCLI builds a class (or imports a callable) × the usual payloads:
``subprocess.Popen``, ``os.system``, ``builtins.eval``, a walk through an allowlisted module to
something else (``torch.optim.os.system``), a dunder walk, and a short name that jsonargparse
would resolve to a loaded class outside the allowlist (the ``Sneaky*`` classes below are loaded
subclasses of each place's type: jsonargparse picks a subclass by its bare name). Paths: every path
place × ``/etc``, ``..`` climbs, links planted in home and in a data root, another temp folder,
NUL bytes, ``~`` and ``file://``. Each refusal must name the key (``AdmissionError.key``).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.strategies import SingleDeviceStrategy

from autolit.serve.admission import AdmissionError, admit_fit
from tests.serve.admission_setup import digits, make_site


class SneakyOptimizer(torch.optim.SGD):
    pass


class SneakyScheduler(torch.optim.lr_scheduler.StepLR):
    pass


class SneakyCallback(Callback):
    pass


class SneakyLogger(CSVLogger):
    pass


class SneakyStrategy(SingleDeviceStrategy):
    pass


class SneakyModule(L.LightningModule):
    pass


class SneakyData(L.LightningDataModule):
    pass


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


def _spec(value):
    return {"class_path": value}


def _callback(**init):
    return {"trainer": {"callbacks": [{"class_path": "lightning.pytorch.callbacks.StochasticWeightAveraging",
                                       "init_args": {"swa_lrs": 0.1, **init}}]}}


# place: (key the error must name, fragment builder, a short name resolving outside, or None)
CLASS_PLACES = {
    "optimizer": ("optimizer", lambda v: {"optimizer": v}, "SneakyOptimizer"),
    "optimizer.class_path": ("optimizer.class_path", lambda v: {"optimizer": _spec(v)}, "SneakyOptimizer"),
    "lr_scheduler": ("lr_scheduler", lambda v: {"lr_scheduler": v}, "SneakyScheduler"),
    "lr_scheduler.class_path": ("lr_scheduler.class_path", lambda v: {"lr_scheduler": _spec(v)}, "SneakyScheduler"),
    "lr_scheduler.schedulers": ("lr_scheduler.init_args.schedulers[0]", lambda v: {"lr_scheduler": {
        "class_path": "torch.optim.lr_scheduler.SequentialLR", "init_args": {"schedulers": [v], "milestones": []}}},
        "SneakyScheduler"),
    "lr_scheduler.lr_lambda": ("lr_scheduler.init_args.lr_lambda", lambda v: {"lr_scheduler": {
        "class_path": "torch.optim.lr_scheduler.LambdaLR", "init_args": {"lr_lambda": v}}}, None),
    "model.class_path": ("model.class_path", lambda v: {"model": _spec(v)}, "SneakyModule"),
    "data.class_path": ("data.class_path", lambda v: {"data": _spec(v)}, "SneakyData"),
    "trainer.callbacks[0]": ("trainer.callbacks[0]", lambda v: {"trainer": {"callbacks": [v]}}, "SneakyCallback"),
    "trainer.callbacks": ("trainer.callbacks", lambda v: {"trainer": {"callbacks": v}}, "SneakyCallback"),
    "trainer.callbacks[0].class_path": ("trainer.callbacks[0].class_path",
                                        lambda v: {"trainer": {"callbacks": [_spec(v)]}}, "SneakyCallback"),
    "callback callable arg": ("trainer.callbacks[0].init_args.avg_fn", lambda v: _callback(avg_fn=v), None),
    "callback class arg": ("trainer.callbacks[0].init_args.device", lambda v: _callback(device=v), None),
    "trainer.logger": ("trainer.logger", lambda v: {"trainer": {"logger": v}}, "SneakyLogger"),
    "trainer.logger.class_path": ("trainer.logger.class_path", lambda v: {"trainer": {"logger": _spec(v)}},
                                  "SneakyLogger"),
    "trainer.logger[1].class_path": ("trainer.logger[1].class_path", lambda v: {"trainer": {"logger": [
        {"class_path": "CSVLogger", "init_args": {"save_dir": "logs"}}, _spec(v)]}}, "SneakyLogger"),
    "trainer.plugins": ("trainer.plugins", lambda v: {"trainer": {"plugins": v}}, None),
    "trainer.plugins[0].class_path": ("trainer.plugins[0].class_path", lambda v: {"trainer": {"plugins": [_spec(v)]}},
                                      None),
    "trainer.strategy": ("trainer.strategy", lambda v: {"trainer": {"strategy": v}}, "SneakyStrategy"),
    "trainer.strategy.class_path": ("trainer.strategy.class_path", lambda v: {"trainer": {"strategy": _spec(v)}},
                                    "SneakyStrategy"),
    "trainer.accelerator": ("trainer.accelerator", lambda v: {"trainer": {"accelerator": v}}, None),
    "trainer.accelerator.class_path": ("trainer.accelerator.class_path",
                                       lambda v: {"trainer": {"accelerator": _spec(v)}}, None),
    "trainer.profiler": ("trainer.profiler", lambda v: {"trainer": {"profiler": v}}, None),
    "trainer.profiler.class_path": ("trainer.profiler.class_path", lambda v: {"trainer": {"profiler": _spec(v)}}, None),
    "untyped (resolved)": ("resolved.anything.class_path", lambda v: {"resolved": {"anything": _spec(v)}}, None),
    "layer spec": ("model.layers[0].class_path", lambda v: {"model": {"layers": [_spec(v)]}}, None),
    "logger **kwargs": ("trainer.logger.dict_kwargs.extra.class_path", lambda v: {"trainer": {"logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"save_dir": "logs"},
        "dict_kwargs": {"extra": _spec(v)}}}}, None),
}
PAYLOADS = ["subprocess.Popen", "os.system", "builtins.eval", "torch.optim.os.system", "torch.optim.sgd.torch.load",
            "torch.optim.SGD.__init__.__globals__", "__import__"]


def _class_cases():
    for place, (key, build, short) in CLASS_PLACES.items():
        for payload in PAYLOADS + ([short] if short else []):
            yield pytest.param(key, build, payload, id=f"{place}-{payload}")


@pytest.mark.parametrize(("key", "build", "payload"), list(_class_cases()))
def test_a_class_outside_the_allowlist_is_refused_at_every_class_place(site, key, build, payload):
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(**build(payload)), site.roots, job_dir=site.job)
    assert refused.value.key == key
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(("config", "where", "full"), [
    ({"optimizer": "SGD"}, ("optimizer",), "torch.optim.SGD"),
    ({"optimizer": {"class_path": "SGD", "init_args": {"lr": 0.1}}}, ("optimizer", "class_path"), "torch.optim.SGD"),
    ({"lr_scheduler": "StepLR"}, ("lr_scheduler",), "torch.optim.lr_scheduler.StepLR"),
    ({"lr_scheduler": {"class_path": "ReduceLROnPlateau"}}, ("lr_scheduler", "class_path"),
     "lightning.pytorch.cli.ReduceLROnPlateau"),  # the one LightningCLI needs (it subclasses torch's)
    ({"trainer": {"callbacks": ["EarlyStopping"]}}, ("trainer", "callbacks", 0),
     "lightning.pytorch.callbacks.EarlyStopping"),
    ({"trainer": {"logger": "CSVLogger"}}, ("trainer", "logger"), "lightning.pytorch.loggers.CSVLogger"),
    ({"optimizer": {"class_path": "torch.optim.sgd.SGD"}}, ("optimizer", "class_path"), "torch.optim.sgd.SGD"),
])
def test_allowlisted_classes_are_admitted_and_short_names_written_in_full(site, config, where, full):
    node = admit_fit(digits(**config), site.roots, job_dir=site.job)
    for part in where:
        node = node[part]
    assert node == full


def test_prefixes_match_whole_dotted_parts_and_allow_class_extends_the_list(site):
    from dataclasses import replace

    with pytest.raises(AdmissionError, match="allowlist"):
        admit_fit(digits(optimizer={"class_path": "torch.optimx.SGD"}), site.roots, job_dir=site.job)
    with pytest.raises(AdmissionError) as refused:  # Lightning's profilers are not allowed by default
        admit_fit(digits(trainer={"profiler": {"class_path": "lightning.pytorch.profilers.SimpleProfiler"}}),
                  site.roots, job_dir=site.job)
    assert refused.value.key == "trainer.profiler.class_path"
    extended = replace(site.roots, allow_classes=("lightning.pytorch.profilers",))
    out = admit_fit(digits(trainer={"profiler": {"class_path": "lightning.pytorch.profilers.SimpleProfiler",
                                                 "init_args": {"dirpath": "prof", "filename": "p"}}}),
                    extended, job_dir=site.job)
    assert out["trainer"]["profiler"]["init_args"]["dirpath"] == str(site.job / "prof")
    with pytest.raises(AdmissionError) as refused:  # the extension does not open its paths
        admit_fit(digits(trainer={"profiler": {"class_path": "lightning.pytorch.profilers.SimpleProfiler",
                                               "init_args": {"dirpath": "/etc"}}}), extended, job_dir=site.job)
    assert refused.value.key == "trainer.profiler.init_args.dirpath"


@pytest.mark.parametrize(("fragment", "key"), [
    ({"config": "other.yaml"}, "config"),                                       # LightningCLI reads it
    ({"trainer": "trainer.yaml"}, "trainer"),                                   # a sub-config file
    ({"model": "autolit.modules.AutoLitModule"}, "model"),
    ({"optimizer": {"class_path": "SGD", "init_args": "sgd.yaml"}}, "optimizer.init_args"),
    ({"data": {"__path__": "/etc/x.yaml"}}, "data.__path__"),                   # re-roots relative paths
    ({"trainer.callbacks": ["EarlyStopping"]}, "trainer.callbacks"),           # dotted keys nest
    ({"optimizer": {"class_path": "SGD", "init_args": {"lr.x": 1}}}, "optimizer.init_args.lr.x"),
    ({"trainer": {"strategy": "/etc/hostname"}}, "trainer.strategy"),           # read as a config file
    ({"trainer": {"model_registry": "my-model"}}, "trainer.model_registry"),   # uploads checkpoints
    ({"trainer": {"callbacks": [{"class_path": "ModelCheckpoint", "lr": 1}]}}, "trainer.callbacks[0].lr"),
    ({"trainer": {"callbacks": [{"init_args": {"monitor": "x"}}]}}, "trainer.callbacks[0]"),
])
def test_keys_jsonargparse_reads_specially_are_refused(site, fragment, key):
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(**fragment), site.roots, job_dir=site.job)
    assert refused.value.key == key


# place: (key, fragment builder, writes?)
PATH_PLACES = {
    "data.store (built)": ("data.store", lambda v: {"data": {"store": v}}, True),
    "data.store (read)": ("data.store", lambda v: {"data": {"store": v, "source": None, "cache": "none"}}, False),
    "idx:DIR": ("data.source", lambda v: {"data": {"source": f"idx:{v}"}}, False),
    "folder:DIR": ("data.source", lambda v: {"data": {"source": f"folder:{v}"}}, False),
    "csv:FILE": ("data.source", lambda v: {"data": {"source": f"csv:{v}"}}, False),
    "{folder: DIR}": ("data.source.folder", lambda v: {"data": {"source": {"folder": v, "split": "test"}}}, False),
    "source list": ("data.source[1]", lambda v: {"data": {"source": ["digits", f"folder:{v}"]}}, False),
    "scrape queries_file": ("data.source.scrape.queries_file",
                            lambda v: {"data": {"source": {"scrape": {"queries_file": v, "per_query": 2}}}}, False),
    "Backbone weights": ("model.layers[0].Backbone.weights", lambda v: {"model": {"layers": [
        {"Backbone": {"name": "resnet18", "weights": v}}, {"Linear": {"out_features": "n_labels"}}]}}, False),
    "ckpt_path": ("ckpt_path", lambda v: {"ckpt_path": v}, False),
    "default_root_dir": ("trainer.default_root_dir", lambda v: {"trainer": {"default_root_dir": v}}, True),
    "TensorBoardLogger save_dir": ("trainer.logger.init_args.save_dir", lambda v: {"trainer": {"logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"save_dir": v}}}}, True),
    "CSVLogger save_dir": ("trainer.logger[0].init_args.save_dir", lambda v: {"trainer": {"logger": [{
        "class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": v}}]}}, True),
    "ModelCheckpoint dirpath": ("trainer.callbacks[0].init_args.dirpath", lambda v: {"trainer": {"callbacks": [{
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"dirpath": v}}]}}, True),
    "OnExceptionCheckpoint dirpath": ("trainer.callbacks[0].init_args.dirpath", lambda v: {"trainer": {"callbacks": [{
        "class_path": "lightning.pytorch.callbacks.OnExceptionCheckpoint", "init_args": {"dirpath": v}}]}}, True),
    "SpikeDetection exclude_batches_path": ("trainer.callbacks[0].init_args.exclude_batches_path", lambda v: {
        "trainer": {"callbacks": [{"class_path": "lightning.pytorch.callbacks.SpikeDetection",
                                   "init_args": {"exclude_batches_path": v}}]}}, True),
}
HOSTILE = ["etc", "climb", "link_in_home", "link_in_data_root", "other_tmp", "nul", "tilde", "url"]


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("place", list(PATH_PLACES))
def test_a_path_outside_the_roots_is_refused_at_every_path_place(site, place, hostile):
    key, build, _ = PATH_PLACES[place]
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(**build(site.hostile_paths()[hostile])), site.roots, job_dir=site.job)
    assert refused.value.key == key


@pytest.mark.parametrize("place", list(PATH_PLACES))
def test_write_places_stay_out_of_data_roots_and_paths_come_back_absolute(site, place):
    key, build, writes = PATH_PLACES[place]
    target = {"idx:DIR": "mnist", "folder:DIR": "pics", "{folder: DIR}": "pics", "source list": "pics",
              "csv:FILE": "rows.csv", "scrape queries_file": "queries.txt"}.get(place, "somewhere")
    for folder in (site.data, site.job / "inside"):  # the scrape source reads its queries file to check it
        folder.mkdir(exist_ok=True)
        (folder / "queries.txt").write_text("ants\n")
    in_data = str(site.data / target)
    if writes:
        with pytest.raises(AdmissionError, match="data root") as refused:
            admit_fit(digits(**build(in_data)), site.roots, job_dir=site.job)
        assert refused.value.key == key
    else:
        assert in_data in str(admit_fit(digits(**build(in_data)), site.roots, job_dir=site.job))
    admitted = admit_fit(digits(**build("inside/" + target)), site.roots, job_dir=site.job)
    assert str(site.job / "inside" / target) in str(admitted)  # relative: against the job folder, absolute


@pytest.mark.parametrize(("source", "key"), [
    ("folder:{data}/pics_bad", "data.source"),   # a link to /etc/passwd inside the source folder
    ("csv:{data}/rows_out.csv", "data.source"),  # a CSV row climbing out of the roots
])
def test_what_a_source_reads_through_its_folder_or_rows_stays_inside(site, source, key):
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(data={"source": source.format(data=site.data)}), site.roots, job_dir=site.job)
    assert refused.value.key == key


def test_a_store_in_a_data_root_is_read_only(site):
    store = site.data / "store"
    store.mkdir()
    read = {"store": str(store), "source": None}
    with pytest.raises(AdmissionError) as refused:  # the decoded cache would be written beside it
        admit_fit(digits(data=read), site.roots, job_dir=site.job)
    assert refused.value.key == "data.cache"
    admitted = admit_fit(digits(data={**read, "cache": "none"}), site.roots, job_dir=site.job)
    assert admitted["data"]["store"] == str(store)
    with pytest.raises(AdmissionError) as refused:  # a source would build or complete it there
        admit_fit(digits(data={"store": str(store)}), site.roots, job_dir=site.job)
    assert refused.value.key == "data.store"


@pytest.mark.parametrize(("init", "key"), [
    ({"name": "../../../etc"}, "trainer.logger.init_args.name"),
    ({"version": "../x"}, "trainer.logger.init_args.version"),
    ({"sub_dir": ".."}, "trainer.logger.init_args.sub_dir"),
])
def test_a_loggers_folder_names_cannot_climb_out_of_its_save_dir(site, init, key):
    logger = {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"save_dir": "logs", **init}}
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(trainer={"logger": logger}), site.roots, job_dir=site.job)
    assert refused.value.key == key


@pytest.mark.parametrize("filename", ["../../../../etc/cron.d/x", "/etc/x", "~/x"])
def test_a_checkpoint_filename_cannot_climb_out_of_its_folder(site, filename):
    callback = {"class_path": "ModelCheckpoint", "init_args": {"filename": filename}}
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(trainer={"callbacks": [callback]}), site.roots, job_dir=site.job)
    assert refused.value.key == "trainer.callbacks[0].init_args.filename"


@pytest.mark.parametrize(("option", "value"), [("serpapi_url", "http://127.0.0.1:9/collect"),
                                               ("allow_hosts", ["127.0.0.1"])])
def test_scrape_options_that_would_leak_the_key_or_reach_private_hosts_are_refused(site, option, value):
    source = {"scrape": {"queries": ["ants"], "per_query": 2, option: value}}
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(data={"source": source}), site.roots, job_dir=site.job)
    assert refused.value.key == f"data.source.scrape.{option}"


@pytest.mark.parametrize("name", ["hf-hub:timm/resnet18.a1_in1k", "local-dir:/etc", "timm/resnet18", "../x"])
def test_a_backbone_name_is_only_a_registry_name(site, name):
    """Backbone names go to timm's/torchvision's registries only (autolit.modules.archs.find_library):
    they refuse hub and local-dir names too; admission refuses any name that is not registry-shaped."""
    from autolit.errors import UserError
    from autolit.modules.archs import find_library

    with pytest.raises(UserError):
        find_library(name, None, "Backbone")
    layers = [{"Backbone": {"name": name, "weights": "none"}}, {"Linear": {"out_features": "n_labels"}}]
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(model={"layers": layers}), site.roots, job_dir=site.job)
    assert refused.value.key == "model.layers[0].Backbone.name"


def test_the_job_folder_must_be_inside_home(site):
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(), site.roots, job_dir=site.elsewhere)
    assert refused.value.key == "job_dir"


def test_admission_returns_a_new_config(site):
    config = digits()
    admitted = admit_fit(config, site.roots, job_dir=site.job)
    assert config["data"]["store"] == "stores/digits"
    assert admitted["data"]["store"] == str(Path(site.job) / "stores" / "digits")


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", "/etc/passwd"])
def test_kwargs_jsonargparse_forwards_to_another_function_take_no_import_path(site, payload):
    """WeightAveraging(**kwargs) passes them to AveragedModel, whose avg_fn is a callable:
    jsonargparse follows the kwargs and imports a string given there."""
    callback = {"class_path": "lightning.pytorch.callbacks.WeightAveraging", "init_args": {"avg_fn": payload}}
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(trainer={"callbacks": [callback]}), site.roots, job_dir=site.job)
    assert refused.value.key == "trainer.callbacks[0].init_args.avg_fn"


@pytest.mark.parametrize(("fragment", "key"), [
    ({"trainer": {"strategy": "{class_path: os.system}"}}, "trainer.strategy"),
    ({"trainer": {"strategy": "class_path: os.system"}}, "trainer.strategy"),
    ({"resolved": "{x: {class_path: os.system}}"}, "resolved"),
    ({"model": {"layers": "[{class_path: os.system}]"}}, "model.layers"),
    (_callback(device="{class_path: os.system}"), "trainer.callbacks[0].init_args.device"),
    ({"trainer": {"callbacks": [{"class_path": "lightning.pytorch.callbacks.WeightAveraging",
                                 "init_args": {"avg_fn": "{class_path: os.system}"}}]}},
     "trainer.callbacks[0].init_args.avg_fn"),
])
def test_yaml_text_of_a_class_spec_inside_a_string_is_refused(site, fragment, key):
    """jsonargparse loads a string as YAML before fitting it to the type: at a class, callable or
    untyped place that text becomes a class spec it imports (test_admission_complete shows it)."""
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(**fragment), site.roots, job_dir=site.job)
    assert refused.value.key == key


def test_yaml_like_text_where_only_text_goes_is_left_alone(site):
    """A plain str place falls back to the text (ModelCheckpoint's filename template "{epoch}")."""
    callback = {"class_path": "ModelCheckpoint", "init_args": {"filename": "{epoch}", "monitor": "val/acc"}}
    admitted = admit_fit(digits(trainer={"callbacks": [callback]}), site.roots, job_dir=site.job)
    assert admitted["trainer"]["callbacks"][0]["init_args"]["filename"] == "{epoch}"


def test_a_class_spec_in_a_typed_mapping_argument_is_refused(site):
    """RichProgressBar's console_kwargs is a dict[str, Any]: no class goes there either."""
    callback = {"class_path": "RichProgressBar", "init_args": {"console_kwargs": {"class_path": "os.system"}}}
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(trainer={"callbacks": [callback]}), site.roots, job_dir=site.job)
    assert refused.value.key == "trainer.callbacks[0].init_args.console_kwargs.class_path"
