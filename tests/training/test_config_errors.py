"""Malformed fit configs stop before training: exit code 2, the key or value named, no traceback."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest

from tests.training.conftest import base_config, error_line, run_inprocess, write_config
from tests.synthetic import write_store


def _layers(*layers):
    return lambda c: c["model"].__setitem__("layers", list(layers))


def _set(path: str, value):
    def apply(config):
        node = config
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return apply


def _store(kind):
    def apply(config, tmp_path):
        if kind == "missing":
            config["data"]["store"] = str(tmp_path / "nowhere")
        elif kind == "not-a-store":
            (tmp_path / "empty").mkdir()
            config["data"]["store"] = str(tmp_path / "empty")
        elif kind == "two-labels":
            config["data"]["store"] = str(write_store(tmp_path / "two", n=40, labels=["a", "b", "c", "d"]))
    return apply


CASES = {
    "unknown layer": (_layers({"Conv3d": {"out_channels": 8}}), r"Conv3d.*valid"),
    "unknown layer argument": (_layers({"Conv2d": {"out_channel": 8, "kernel_size": 3}}), r"out_channel"),
    "Linear on 4-D input": (_layers({"Conv2d": {"out_channels": 4, "kernel_size": 3}},
                                    {"Linear": {"out_features": "n_labels"}}), r"Flatten"),
    "kernel larger than input": (_layers({"Conv2d": {"out_channels": 4, "kernel_size": 20}}, {"Flatten": {}},
                                         {"Linear": {"out_features": "n_labels"}}), r"kernel"),
    "zero width": (_layers({"Flatten": {}}, {"Linear": {"out_features": 0}},
                           {"Linear": {"out_features": "n_labels"}}), r"out_features"),
    "negative width": (_layers({"Conv2d": {"out_channels": -3, "kernel_size": 3}}, {"Flatten": {}},
                               {"Linear": {"out_features": "n_labels"}}), r"out_channels"),
    "typo for n_labels": (_layers({"Flatten": {}}, {"Linear": {"out_features": "n_label"}}), r"n_labels"),
    "wrong type in a layer": (_layers({"Flatten": {}}, {"Linear": {"out_features": "abc"}}), r"out_features"),
    "layer entry not a map": (_layers("Flatten", {"Linear": {"out_features": "n_labels"}}),
                              r"model\.layers(.|\n)*Flatten"),
    "residual changes shape": (_layers({"Residual": {"layers": [{"Conv2d": {"out_channels": 5, "kernel_size": 3}}]}},
                                       {"Flatten": {}}, {"Linear": {"out_features": "n_labels"}}), r"Residual"),
    "unknown task": (_set("model.task", "classify"), r"classify"),
    "unknown preset": (lambda c: c["model"].update(layers=None, preset="resnet999"), r"resnet999"),
    "layers and preset": (_set("model.preset", "mlp"), r"preset"),
    "unknown loss": (_set("model.loss", "hinge"), r"hinge"),
    "unknown top-level key": (_set("modle", {"task": "multiclass"}), r"modle"),
    "unknown model key": (_set("model.dropout", 0.5), r"dropout"),
    "unknown trainer key": (_set("trainer.max_epoch", 3), r"max_epoch"),
    "wrong type for batch_size": (_set("data.batch_size", "big"), r"batch_size"),
    "negative batch_size": (_set("data.batch_size", -4), r"batch_size"),
    "negative learning rate": (_set("optimizer.init_args.lr", -0.1),
                               r"optimizer\.init_args\.lr: -0\.1 is not valid for Adam \(must be a number > 0\); "
                               r"fix: e\.g\. lr: 0\.001"),
    "negative weight decay": (_set("optimizer.init_args.weight_decay", -1.0),
                              r"optimizer\.init_args\.weight_decay: -1\.0 .*must be a number >= 0"),
    "beta out of range": (_set("optimizer.init_args.betas", [0.9, 1.5]),
                          r"optimizer\.init_args\.betas: \[0\.9, 1\.5\] .*two numbers in \[0, 1\)"),
    "negative eps": (_set("optimizer.init_args.eps", -1e-8), r"optimizer\.init_args\.eps: -1e-08"),
    "momentum above 1": (lambda c: c.update(optimizer={"class_path": "torch.optim.SGD",
                                                       "init_args": {"lr": 0.1, "momentum": 1.5}}),
                         r"optimizer\.init_args\.momentum: 1\.5 is not valid for SGD \(must be a number in \[0, 1\]\)"),
    "unknown optimizer": (_set("optimizer.class_path", "torch.optim.Adamm"),
                          r"optimizer\.class_path: 'torch\.optim\.Adamm' is not a class of torch\.optim "
                          r"\(did you mean 'Adam'\?\); valid: AdamW, Adam, SGD, .*fix: e\.g\. class_path: torch\.optim\.AdamW"),
    "unknown optimizer argument": (_set("optimizer.init_args.lrr", 0.1),
                                   r"optimizer\.init_args\.lrr: Adam takes no argument 'lrr' \(did you mean 'lr'\?\); "
                                   r"valid arguments: lr, betas"),
    "negative T_max": (lambda c: c.update(lr_scheduler={"class_path": "torch.optim.lr_scheduler.CosineAnnealingLR",
                                                       "init_args": {"T_max": -3}}),
                       r"lr_scheduler\.init_args\.T_max: -3 is not valid for CosineAnnealingLR \(must be an integer >= 1\)"),
    "zero step_size": (lambda c: c.update(lr_scheduler={"class_path": "torch.optim.lr_scheduler.StepLR",
                                                        "init_args": {"step_size": 0}}),
                       r"lr_scheduler\.init_args\.step_size: 0 .*integer >= 1.*fix: e\.g\. step_size: 10"),
    "zero gamma": (lambda c: c.update(lr_scheduler={"class_path": "torch.optim.lr_scheduler.StepLR",
                                                    "init_args": {"step_size": 2, "gamma": 0}}),
                   r"lr_scheduler\.init_args\.gamma: 0(\.0)? .*must be a number > 0"),
    "value torch refuses": (lambda c: c.update(optimizer={"class_path": "torch.optim.Rprop",
                                                          "init_args": {"lr": 0.01, "etas": [1.5, 1.2]}}),
                            r"optimizer\.init_args\.etas: \(1\.5, 1\.2\) is not accepted by Rprop "
                            r"\(Invalid eta values: 1\.5, 1\.2\)"),
    "unknown scheduler": (lambda c: c.update(lr_scheduler={"class_path": "torch.optim.lr_scheduler.StepLr",
                                                           "init_args": {"step_size": 2}}),
                          r"lr_scheduler\.class_path: 'torch\.optim\.lr_scheduler\.StepLr' .*did you mean 'StepLR'"),
    "bad channels": (_set("data.channels", 2), r"channels"),
    "unknown cache mode": (_set("data.cache", "ram"), r"ram"),
    "unknown augmentation": (_set("data.augment", [{"RandomFlip": {}}]), r"RandomFlip"),
    "unknown data source": (lambda c: c["data"].update(source="kaggle"), None),  # paired with a missing store below
    "binary on a 4-label store": (_set("model.task", "binary"), r"binary"),
    "regression on a classification store": (_set("model.task", "regression"), r"regression"),
}
STORE_CASES = {"unknown data source": "missing", "binary on a 4-label store": "two-labels"}
PATTERNS = {"unknown data source": r"kaggle"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_config_stops_before_training(case, tiny_store, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = copy.deepcopy(base_config(tiny_store))
    mutate, pattern = CASES[case]
    if case in STORE_CASES:
        _store(STORE_CASES[case])(config, tmp_path)
    mutate(config)
    code, err = run_inprocess(monkeypatch, capsys, "--config", write_config(tmp_path / "bad.yaml", config))
    assert code == 2, err
    assert re.search(PATTERNS.get(case, pattern), error_line(err)), err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.ckpt"))


@pytest.mark.parametrize("store_kind, pattern", [("missing", r"does not exist"), ("not-a-store", r"not .*store")])
def test_bad_store_path(store_kind, pattern, tiny_store, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = base_config(tiny_store)
    _store(store_kind)(config, tmp_path)
    code, err = run_inprocess(monkeypatch, capsys, "--config", write_config(tmp_path / "bad.yaml", config))
    assert code == 2 and "Traceback" not in err
    assert re.search(pattern, err), err


def test_yaml_python_tag_is_refused_not_executed(tiny_store, tmp_path):
    """A YAML python tag is never constructed: one clean error, and the command never runs."""
    marker = tmp_path / "pwned"
    text = write_config(tmp_path / "ok.yaml", base_config(tiny_store)).read_text()
    text += f"\nevil: !!python/object/apply:os.system ['touch {marker}']\n"
    (tmp_path / "bad.yaml").write_text(text)
    proc = subprocess.run([sys.executable, "-m", "autolit.fit", "--config", str(tmp_path / "bad.yaml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "python/object" in proc.stderr or "evil" in proc.stderr, proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize("content, pattern", [
    (None, r"checkpoint .*gone\.ckpt does not exist"),
    (b"PK\x03\x04 cut short", r"checkpoint .*gone\.ckpt cannot be read"),
])
def test_resume_from_a_missing_or_damaged_checkpoint(content, pattern, tiny_store, tmp_path, monkeypatch, capsys):
    """--ckpt_path is checked (weights-only, intact) before the data and model are built."""
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "gone.ckpt").write_bytes(content)
    config = {**base_config(tiny_store), "ckpt_path": str(tmp_path / "gone.ckpt")}
    code, err = run_inprocess(monkeypatch, capsys, "--config", write_config(tmp_path / "c.yaml", config))
    assert code == 2 and re.search(pattern, err.strip().splitlines()[-1]), err


def test_a_non_utf8_config_is_one_line_naming_the_file(tiny_store, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = write_config(tmp_path / "latin1.yaml", base_config(tiny_store))
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    code, err = run_inprocess(monkeypatch, capsys, "--config", path)
    assert code == 2 and "Traceback" not in err, err
    assert re.search(r"error: --config .*latin1\.yaml is not UTF-8 text .*save it as UTF-8$", err.strip()), err
