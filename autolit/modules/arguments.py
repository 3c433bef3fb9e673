"""Checks of AutoLitModule's own arguments (spec or preset, label count, input shape, head,
fine-tuning knobs): each mistake names the ``model.*`` key and the fix."""

from __future__ import annotations

import math
from typing import Any

import torch

from autolit.errors import UserError, invalid_value
from autolit.modules.backbone import find_backbones
from autolit.modules.errors import fmt_shape
from autolit.modules.losses import check_loss, check_loss_args
from autolit.modules.presets import preset_spec
from autolit.modules.spec import output_shape
from autolit.modules.speed import check_speed_options
from autolit.modules.tasks import Task, get_task


def choose_spec(layers: list[dict] | None, preset: str | None) -> list[dict]:
    if layers is not None and preset is not None:
        raise UserError(f"model: both layers and preset ({preset!r}) are set; fix: keep one of them")
    if layers is None and preset is None:
        from autolit.modules.presets import PRESETS

        raise UserError("model: neither layers nor preset is set; fix: add model.layers (a layer "
                        f"list) or model.preset ({', '.join(PRESETS)})")
    return preset_spec(preset) if preset is not None else layers


def check_model_args(*, task: Any, loss: Any, label_smoothing: Any, class_weights: Any, huber_delta: Any,
                     freeze_epochs: Any, backbone_lr_mult: Any, channels_last: Any, compile: Any) -> None:  # noqa: A002
    """The module's own values that need neither the data nor the network: the fit CLI checks a parsed
    config with them before the store is read (a scrape source would be fetched first)."""
    task_def = get_task(task)
    check_loss(task_def, loss)
    check_loss_args(task, None, label_smoothing, class_weights, huber_delta)
    _check_fine_tuning_values(freeze_epochs, backbone_lr_mult)
    check_speed_options(channels_last, compile)


def _check_fine_tuning_values(freeze_epochs: Any, mult: Any) -> None:
    if not isinstance(freeze_epochs, int) or isinstance(freeze_epochs, bool) or freeze_epochs < 0:
        raise invalid_value("model.freeze_epochs", freeze_epochs, "AutoLitModule", "an integer >= 0", "1")
    if not isinstance(mult, (int, float)) or isinstance(mult, bool) or not 0 <= mult < math.inf:
        raise invalid_value("model.backbone_lr_mult", mult, "AutoLitModule", "a finite number >= 0", "0.1")


def check_fine_tuning(net: torch.nn.Module, freeze_epochs: Any, mult: Any) -> tuple[int, float]:
    _check_fine_tuning_values(freeze_epochs, mult)
    if (freeze_epochs or mult != 1) and not find_backbones(net):
        key = "freeze_epochs" if freeze_epochs else "backbone_lr_mult"
        raise UserError(f"model.{key} is set but model.layers has no Backbone layer; fix: remove "
                        f"model.{key} or start the spec with - Backbone: {{name: ...}}")
    return freeze_epochs, float(mult)


def check_n_labels(task: str, n_labels: int | None, label_names: list[str] | None) -> int:
    """The label count the metrics use: n_labels (or len(label_names)); 2 for binary."""
    if label_names is not None and not (isinstance(label_names, (list, tuple))
                                        and all(isinstance(name, str) for name in label_names)):
        raise UserError(f"model.label_names must be a list of label names (strings), got {label_names!r}; "
                        f"fix: leave it to the data module (the fit CLI links data.label_names)")
    if n_labels is None and label_names:
        n_labels = len(label_names)
    if task == "regression":
        return 1
    if n_labels is not None and label_names and len(label_names) != n_labels:
        raise UserError(f"model.label_names has {len(label_names)} names but n_labels is {n_labels}; "
                        f"fix: give one name per label (or leave both to the data module)")
    if task == "binary":
        if n_labels not in (None, 2):
            raise UserError(f"model.n_labels is {n_labels!r} but task binary needs exactly 2 labels; "
                            f"fix: use task: multiclass, or a data set with two labels")
        return 2
    if not isinstance(n_labels, int) or isinstance(n_labels, bool) or n_labels < 2:
        raise UserError(f"model.n_labels must be an integer >= 2 for task multiclass, got "
                        f"{n_labels!r}; fix: pass the data's n_labels (the fit CLI links "
                        f"data.n_labels), or use task: binary / regression")
    return n_labels


def check_input_shape(input_shape: list[int] | None) -> list[int]:
    if input_shape is None:
        raise UserError("model.input_shape is not set; fix: pass [C, H, W] (the fit CLI links "
                        "data.input_shape)")
    return list(input_shape)


def check_head(task: Task, layers: list[dict], input_shape: list[int], head: int) -> None:
    """The network must end in (B, head): n_labels logits, or one logit / value."""
    out = output_shape(layers, input_shape, head)
    if out != (head,):
        what = f"{head} labels" if task.name == "multiclass" else "one output"
        raise UserError(f"model.layers: the network outputs {fmt_shape(out, batch=True)} but task "
                        f"{task.name} needs (B, {head}) ({what}); fix: end with Linear: "
                        f"{{out_features: n_labels}} after Flatten")
