"""What ``autolit.fit`` does for a pretrained ``Backbone``: data prepared as its weights expect,
and the configured optimizer split into param groups (``model.backbone_lr_mult``).

Both work on the LightningCLI config / objects, so they live beside the fit entry point rather than
in :mod:`autolit.modules`, which knows no CLI.
"""

from __future__ import annotations

from functools import partial, update_wrapper
from types import MethodType
from typing import Any

from lightning.pytorch.cli import LightningCLI, instantiate_class

from autolit.modules.backbone import backbone_preprocessing, find_backbones
from autolit.modules.presets import preset_spec
from autolit.training.runinfo import plain_dict


def follow_backbone(config: Any) -> None:
    """With a pretrained Backbone, data.image_size/channels/mean/std default to its weights' config.

    Set in the config itself (unless given), so resolved.yaml, the checkpoint's preprocessing and
    the export's preprocessing.json all carry the values the weights were trained with.
    """
    model, data = config.get("model"), config.get("data")
    if model is None or data is None:
        return
    layers = model.get("layers")
    if layers is None and model.get("preset"):
        layers = preset_spec(model.get("preset"))
    # data.channels given (e.g. 1 for a grey store): the Backbone takes it (timm adapts the stem)
    for key, value in (backbone_preprocessing(layers, channels=data.get("channels")) or {}).items():
        if data.get(key) is None:
            data[key] = value


def use_param_groups(cli: LightningCLI) -> None:
    """Rebuild ``optimizer:`` (and ``lr_scheduler:``) over the model's param groups.

    LightningCLI builds them over ``model.parameters()``: one group. A Backbone's blocks get their
    own group at ``lr * model.backbone_lr_mult`` (frozen blocks none; each group records its
    ``lr_mult``); absolute learning rates in the scheduler's arguments (OneCycleLR's ``max_lr``,
    CyclicLR's ``base_lr``/``max_lr``) are scaled per group the same way.
    """
    bound = vars(cli.model).get("configure_optimizers")  # set by LightningCLI from optimizer:
    if bound is None or not isinstance(getattr(bound, "__func__", None), partial) \
            or not find_backbones(cli.model.net):
        return
    old = bound.__func__.keywords
    groups = cli.model.param_groups(old["optimizer"].defaults["lr"])
    optimizer = instantiate_class(groups, plain_dict(cli._get(cli.config_init, "optimizer")))
    scheduler = None
    if old.get("lr_scheduler") is not None:
        init = plain_dict(cli._get(cli.config_init, "lr_scheduler"))
        args = dict(init.get("init_args") or {})
        mults = [g.get("lr_mult", 1.0) for g in groups]
        for key in ("max_lr", "base_lr"):
            if isinstance(args.get(key), (int, float)):
                args[key] = [args[key] * m for m in mults]
        scheduler = instantiate_class(optimizer, {**init, "init_args": args})
    fn = partial(cli.configure_optimizers, optimizer=optimizer, lr_scheduler=scheduler)
    update_wrapper(fn, cli.configure_optimizers)
    cli.model.configure_optimizers = MethodType(fn, cli.model)
