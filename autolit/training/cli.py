"""The LightningCLI of a fit: config parsing with one-line errors, data links into the model,
checkpoints, TensorBoard extras and param groups; what ``--config`` holds and every parsed value are
checked by key (:mod:`~autolit.training.config_file`, :mod:`~autolit.training.config_checks`) before
anything is built.

:func:`build_cli` parses a config (an argv list or a dict) and instantiates the model, the data and
the trainer; :mod:`autolit.training.run` fits them. ``python -m autolit.fit`` and the search's
trials both come through here.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, Optional

import lightning as L
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from autolit.datamodules import StoreDataModule
from autolit.errors import UserError, one_line
from autolit.modules import AutoLitModule
from autolit.modules.checkpoint import load_checkpoint
from autolit.training import schedulers
from autolit.training.callbacks import BestValMetrics, ConfusionMatrixFigure, LastCheckpoint, SampleGrid
from autolit.training.config_checks import check_config, rephrase_typed_error
from autolit.training.config_file import check_config_file, config_values
from autolit.training.finetune import follow_backbone, use_param_groups
from autolit.training.optim_checks import SECTIONS, rephrase_parse_error, rephrase_value_error
from autolit.training.runinfo import LINKED_MODEL_KEYS, find_last_checkpoint, monitor_for, plain_dict, resolved_config
from autolit.training.trainer_checks import check_against_data

RUNS = Path("runs")
# Lightning 2.6 builds pytree specs the way newer torch deprecates; the notice names no user action.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


class ResolvedConfigSaver(SaveConfigCallback):
    """Writes ``config.yaml`` (Lightning's) and ``resolved.yaml`` (ours) into the run folder."""

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        resolved = resolved_config(self.config.as_dict(), pl_module, trainer.datamodule)
        path = Path(trainer.log_dir) / "resolved.yaml"
        path.write_text(yaml.safe_dump(resolved, sort_keys=False))


class AutoLitParser(LightningArgumentParser):
    """A config error is one line naming the key (a :class:`UserError`), not argparse's usage page.

    As a UserError it also stops a search at once (a worker's ``run_fit``), where argparse's exit
    would have killed the worker.
    """

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:  # a parser inside jsonargparse's own retries: they catch this
            super().error(message, ex)
        raise UserError(rephrase_parse_error(message) or rephrase_typed_error(message)
                        or f"config: {one_line(message, limit=600)}; fix: check that key's spelling and value "
                        "(--print_config lists every key with its default)")

    def print_usage(self, file=None) -> None:
        if file is sys.stderr:
            file.write("usage: python -m autolit.fit --config FILE [--section.key=value ...]\n")
        else:
            super().print_usage(file)


class AutoLitCLI(LightningCLI):
    """LightningCLI wired for autolit: data links into the model, checkpoints, TensorBoard extras."""

    def __init__(self, *args: Any, extra_callbacks: Sequence[L.Callback] = (), progress: bool = True,
                 **kwargs: Any) -> None:
        self.extra_callbacks, self.progress = list(extra_callbacks), progress
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--ckpt_path", type=Optional[str], default=None,
                            help="Resume from a checkpoint: a path, or 'last' for the newest run of this config.")
        parser.add_argument("--resolved", type=Optional[dict], default=None,
                            help="Written by autolit into resolved.yaml (label count, input shape, preprocessing, "
                                 "store fingerprint); on input only checked against the store.")
        for name in LINKED_MODEL_KEYS:
            parser.link_arguments(f"data.{name}", f"model.{name}", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """What ``--config`` names is checked first (a folder, a YAML list, a search config: one line each),
        the parsed values next: all before the seed is set or anything is read or built."""
        if not isinstance(args, dict) and not hasattr(args, "as_dict"):
            accepted = {action.dest.split(".")[0] for action in parser._actions}
            for value in config_values(sys.argv[1:] if args is None else args):
                check_config_file(value, accepted)
        super().parse_arguments(parser, args)
        check_config(self.config)

    def before_instantiate_classes(self) -> None:
        ckpt = self.config.get("ckpt_path")
        logger = self.config.trainer.get("logger")
        if ckpt == "last" and logger and hasattr(logger, "init_args"):
            path = find_last_checkpoint(Path(logger.init_args.save_dir) / logger.init_args.name)
            logger.init_args.version = path.parent.parent.name  # keep logging into the resumed run
            self.config.ckpt_path = str(path)
        if self.config.get("ckpt_path"):
            load_checkpoint(self.config.ckpt_path)  # refuses a missing, cut or unsafe file in one line, now
        follow_backbone(self.config)

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except ValueError as exc:  # torch.optim rejects bad hyperparameters with ValueError
            for section in SECTIONS:  # e.g. "Invalid learning rate: -0.1" from the optimizer
                spec = self.config.get(section)
                if spec is not None and spec.get("class_path") and str(exc).startswith("Invalid "):
                    args = plain_dict(spec.get("init_args"))
                    raise rephrase_value_error(section, spec.class_path, args, exc) from None
            raise
        _check_task(self.model, self.datamodule)
        _warn_if_store_changed(self.config.get("resolved"), self.datamodule)

    @staticmethod
    def configure_optimizers(lightning_module: L.LightningModule, optimizer: Any, lr_scheduler: Any = None) -> Any:
        """Lightning's, except that OneCycleLR / CyclicLR step after every batch."""
        return (schedulers.lightning_config(optimizer, lr_scheduler)
                or LightningCLI.configure_optimizers(lightning_module, optimizer, lr_scheduler))

    def _add_configure_optimizers_method_to_model(self, subcommand: str | None) -> None:
        one_cycle = schedulers.take_unsized_one_cycle(self.config_init)  # built at fit time instead
        super()._add_configure_optimizers_method_to_model(subcommand)
        use_param_groups(self)  # a Backbone's blocks get their own LR group (model.backbone_lr_mult)
        if one_cycle is not None:
            schedulers.attach_one_cycle(self.model, one_cycle)

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        callbacks = list(self.extra_callbacks)
        trainer_cfg = self._get(self.config_init, "trainer", default={})
        given = trainer_cfg.get("callbacks") or []
        wants_checkpoints = trainer_cfg.get("enable_checkpointing") is not False
        given_checkpoints = [c for c in given if isinstance(c, ModelCheckpoint)]
        if wants_checkpoints and not given_checkpoints:
            metric, mode = monitor_for(self.model.hparams.task)
            callbacks.append(ModelCheckpoint(monitor=metric, mode=mode, filename="best",
                                             auto_insert_metric_name=False, enable_version_counter=False))
        if wants_checkpoints and not any(c.save_last or c.filename == "last" for c in given_checkpoints):
            # A callback of its own, also beside a config's ModelCheckpoint (--ckpt_path last needs
            # last.ckpt): Lightning's save_last only refreshes last.ckpt when the best one changes,
            # but resuming needs the state of the latest epoch.
            callbacks.append(LastCheckpoint())  # also saved when the fit is stopped (SIGTERM)
        chosen = [(c.monitor, c.mode) for c in given if isinstance(c, ModelCheckpoint) and c.monitor]
        # the val metrics reported are those of the epoch the best checkpoint is chosen by
        self.best_val = BestValMetrics(*(chosen[0] if chosen else monitor_for(self.model.hparams.task)))
        callbacks += [self.best_val, SampleGrid(), ConfusionMatrixFigure()]
        wants_bar = self.progress and trainer_cfg.get("enable_progress_bar") is not False
        if wants_bar and not any(isinstance(c, RichProgressBar) for c in given):
            callbacks.append(RichProgressBar())
        kwargs.setdefault("callbacks", [*given, *callbacks])  # kwargs replace the config's trainer.callbacks
        if not self.progress:
            kwargs.setdefault("enable_progress_bar", False)
            kwargs.setdefault("enable_model_summary", False)
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except (MisconfigurationException, ValueError) as exc:  # what needs this machine (devices, precision)
            raise UserError(f"trainer: Lightning refuses these settings ({one_line(exc, 300)}); fix: change the "
                            "trainer key it names") from None
        if trainer.world_size == 1 and not trainer.overfit_batches:  # batches per device: one device
            check_against_data(plain_dict(self.config.get("trainer")),
                               {split: self.datamodule.batch_count(split) for split in ("train", "val", "test")})
        return trainer


def _check_task(model: AutoLitModule, data: StoreDataModule) -> None:
    task, store_task = model.hparams.task, data.task
    if (task == "regression") != (store_task == "regression"):
        raise UserError(f"model.task is {task!r} but the store {data.store_path} holds a {store_task} data set; "
                        f"use task: {'regression' if store_task == 'regression' else 'multiclass'}")
    if task == "binary" and data.n_labels != 2:
        raise UserError(f"model.task is 'binary' but the store {data.store_path} has {data.n_labels} labels "
                        f"({', '.join(data.label_names)}); use task: multiclass")


def _warn_if_store_changed(recorded: dict | None, data: StoreDataModule) -> None:
    expected = (recorded or {}).get("store_fingerprint")
    if expected and expected != data.fingerprint:
        warnings.warn(f"the store {data.store_path} changed since this config was resolved "
                      f"(fingerprint {data.fingerprint[:12]}, was {expected[:12]}): results will differ")


def _logger_default(save_dir: Path, name: str, version: str | None = None) -> dict[str, Any]:
    init = {"save_dir": str(save_dir), "name": name, "default_hp_metric": False}
    if version is not None:
        init["version"] = version
    return {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": init}


def build_cli(args: list[str] | dict | None = None, *, run_dir: str | Path | None = None,
              extra_callbacks: Sequence[L.Callback] = (), progress: bool = True,
              cli_class: type[AutoLitCLI] = AutoLitCLI) -> AutoLitCLI:
    """Parse a config (argv list or dict) and instantiate model, data and trainer.

    ``cli_class``: a subclass that stops earlier (:mod:`autolit.training.validate` only checks).
    """
    defaults: dict[str, Any] = {}
    if run_dir is not None:
        run_dir = Path(run_dir)
        logger = _logger_default(run_dir.parent, run_dir.name, version="")
        defaults["default_root_dir"] = str(run_dir)  # where files go when a config sets logger: false
    else:
        logger = _logger_default(RUNS, _config_name(args if isinstance(args, list) else sys.argv[1:]))
    with warnings.catch_warnings():
        # A config given from Python (run_fit, the search's trials) is meant to ignore sys.argv;
        # LightningCLI warns whenever the calling process has arguments of its own.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended to run")
        # By design: the config's optimizer:/lr_scheduler: replace the module's default Adam.
        warnings.filterwarnings("ignore", message=r".*configure_optimizers` will be overridden by")
        return cli_class(AutoLitModule, StoreDataModule, args=args, run=False, seed_everything_default=0,
                          parser_class=AutoLitParser,
                          save_config_callback=ResolvedConfigSaver, save_config_kwargs={"overwrite": True},
                          trainer_defaults={"logger": logger, **defaults}, extra_callbacks=extra_callbacks,
                          progress=progress,
                          parser_kwargs={"description": "Train and test a spec-built model on an autolit store.",
                                         "allow_abbrev": False})  # --trainer.max_epoch is a typo, not max_epochs


def _config_name(argv: Sequence[str]) -> str:
    values = config_values(argv)
    return Path(values[0]).stem if values else "autolit"
