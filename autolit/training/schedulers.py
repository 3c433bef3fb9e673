"""Learning-rate schedules counted in optimizer steps (OneCycleLR, CyclicLR) for LightningCLI fits.

LightningCLI steps a config's ``lr_scheduler:`` once per epoch and builds it before the trainer knows
how many steps the fit has. A one-cycle schedule is defined per optimizer step and OneCycleLR cannot
even be created without its length, so the fit CLI uses these helpers:

* :func:`lightning_config` returns such a scheduler with ``interval: step``;
* :func:`take_unsized_one_cycle` / :func:`attach_one_cycle` build a OneCycleLR given without
  ``total_steps`` at fit time, over ``trainer.estimated_stepping_batches``.

So a config needs only ``lr_scheduler: {class_path: torch.optim.lr_scheduler.OneCycleLR,
init_args: {max_lr: 0.02}}``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from autolit.errors import UserError
from autolit.training.runinfo import plain_dict

#: schedulers whose schedule is counted in optimizer steps: stepped after every batch
STEP_SCHEDULERS = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)
ONE_CYCLE = "torch.optim.lr_scheduler.OneCycleLR"
_LENGTH_ARGS = ("total_steps", "epochs", "steps_per_epoch")


def lightning_config(optimizer: torch.optim.Optimizer, scheduler: Any) -> dict[str, Any] | None:
    """``configure_optimizers``' answer for a per-step scheduler, else ``None`` (Lightning's default)."""
    if isinstance(scheduler, STEP_SCHEDULERS):
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
    return None


def take_unsized_one_cycle(config_init: Any) -> dict[str, Any] | None:
    """Remove a OneCycleLR without a length from what LightningCLI instantiates; return its arguments.

    Only the instantiation copy (``cli.config_init``) loses it: the saved config keeps the
    scheduler as written, so ``resolved.yaml`` replays the same way.
    """
    scheduler = config_init.get("lr_scheduler")
    if not scheduler or scheduler.get("class_path") != ONE_CYCLE:
        return None
    init = scheduler.get("init_args")
    args = plain_dict(init)
    if args.get("total_steps") is not None or (args.get("epochs") and args.get("steps_per_epoch")):
        return None
    config_init.lr_scheduler = None
    return {k: v for k, v in args.items() if k not in _LENGTH_ARGS}


def attach_one_cycle(model: L.LightningModule, args: dict[str, Any]) -> None:
    """Wrap ``model.configure_optimizers``: OneCycleLR over the fit's optimizer steps, per batch."""
    build = model.configure_optimizers

    def configure_optimizers() -> dict[str, Any]:
        out = build()
        optimizer = out["optimizer"] if isinstance(out, dict) else out
        steps = model.trainer.estimated_stepping_batches
        if not 0 < steps < float("inf"):
            raise UserError(f"lr_scheduler: OneCycleLR needs the fit's length, but it has {steps} steps; "
                            "fix: set trainer.max_epochs or trainer.max_steps, or lr_scheduler.init_args.total_steps")
        if isinstance(args.get("max_lr"), (int, float)):  # per param group: a Backbone's keeps its lr_mult
            args_now = {**args, "max_lr": [args["max_lr"] * g.get("lr_mult", 1.0) for g in optimizer.param_groups]}
        else:
            args_now = args
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, total_steps=int(steps), **args_now)
        return lightning_config(optimizer, scheduler)

    model.configure_optimizers = configure_optimizers
