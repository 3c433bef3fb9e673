"""AutoLitModule: one LightningModule for every spec-built model and task.

The network comes from a layer spec (``layers``) or a named preset; the task picks the head
width, the loss and the metrics. ``save_hyperparameters`` stores the *resolved* spec, so
``AutoLitModule(**ckpt["hyper_parameters"])`` rebuilds the same network from a checkpoint
loaded with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import warnings
from typing import Any

import lightning as L
import torch

from autolit.errors import UserError
from autolit.modules.backbone import find_backbones
from autolit.modules.errors import NonFiniteLossError, fmt_shape
from autolit.modules.losses import LOSSES, check_loss, check_loss_args
from autolit.modules.presets import preset_spec
from autolit.modules.spec import build_network, output_shape, resolve_spec
from autolit.modules.speed import check_speed_options
from autolit.modules.tasks import Task, get_task

Batch = tuple[torch.Tensor, torch.Tensor]
# A Backbone keeps its frozen blocks' BatchNorm in eval on purpose (statistics frozen); Lightning's
# notice about modules in eval mode at the start of training names nothing to fix then.
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")


class AutoLitModule(L.LightningModule):
    """Spec-built image model for ``multiclass``, ``binary`` or ``regression``.

    Args:
        task: multiclass | binary | regression.
        layers: the layer spec (exclusive with ``preset``).
        preset: a named spec (:data:`autolit.modules.PRESETS`: keras_mnist, small_resnet,
            efficientnet_lite0, resnet18, ...; exclusive with ``layers``).
        n_labels: number of labels in the data (2 for binary; ignored for regression).
        input_shape: per-sample input ``[C, H, W]``.
        label_names: label names in index order (kept for export / predict).
        preprocessing: the data's preprocessing (size, channels, mean, std, resize), kept so an
            exported model can prepare raw images the same way.
        loss: cross_entropy | bce | mse | huber (default: the task's first).
        label_smoothing: in [0, 1) (classification only).
        class_weights: one weight per label (classification only).
        huber_delta: threshold of the huber loss.
        freeze_epochs: train only the layers after the Backbone for this many epochs, then its
            ``trainable`` blocks too (fastai's ``fine_tune``).
        backbone_lr_mult: the Backbone's learning rate as a multiple of the optimizer's (its own
            param group).
        load_weights: fetch the Backbone's pretrained weights; a checkpoint records False (its
            state dict holds them), so export and predict rebuild it offline.
        channels_last: keep weights and inputs in channels-last memory order (NHWC), which the
            fast convolution kernels want (cuDNN tensor cores, oneDNN's AMX/bf16 on CPU).
        compile: ``torch.compile`` the network for training: ``false``, ``true`` (mode
            ``default``), a mode name (``reduce-overhead`` adds CUDA graphs, ``max-autotune``,
            ``max-autotune-no-cudagraphs``) or a map of ``mode`` / ``backend`` / ``fullgraph`` /
            ``dynamic``. Validation, test and exports run the same weights eagerly.
    """

    #: on accelerators the finite-loss check syncs with the host only this often (and at epoch end)
    nonfinite_check_every: int = 50
    #: check every step (stop at the first bad one)? None: only on CPU, where it costs no sync
    check_every_step: bool | None = None

    def __init__(self, task: str = "multiclass", layers: list[dict] | None = None,
                 preset: str | None = None, n_labels: int | None = None,
                 input_shape: list[int] | None = None, label_names: list[str] | None = None,
                 preprocessing: dict | None = None, loss: str | None = None,
                 label_smoothing: float = 0.0, class_weights: list[float] | None = None,
                 huber_delta: float = 1.0, freeze_epochs: int = 0, backbone_lr_mult: float = 1.0,
                 load_weights: bool = True, channels_last: bool = False,
                 compile: bool | str | dict = False) -> None:  # noqa: A002 - the config key is model.compile
        super().__init__()
        self.speed = check_speed_options(channels_last, compile)  # kept out of hparams: no effect on the function
        self.task_def = get_task(task)
        n_labels = _check_n_labels(task, n_labels, label_names)
        input_shape = _check_input_shape(input_shape)
        loss = check_loss(self.task_def, loss)
        check_loss_args(task, n_labels, label_smoothing, class_weights, huber_delta)
        head = self.task_def.head_width(n_labels)
        layers = resolve_spec(_choose_spec(layers, preset), input_shape, head)
        # An explicit dict, not the frame/CLI arguments: the checkpoint must hold the RESOLVED
        # spec (preset dropped: keeping both would refuse to rebuild) and nothing but init
        # arguments (LightningCLI would add "_instantiator"), so AutoLitModule(**hparams) works.
        self.save_hyperparameters(dict(
            task=task, layers=layers, preset=None, n_labels=n_labels, input_shape=input_shape,
            label_names=label_names, preprocessing=preprocessing, loss=loss,
            label_smoothing=label_smoothing, class_weights=class_weights, huber_delta=huber_delta,
            freeze_epochs=freeze_epochs, backbone_lr_mult=backbone_lr_mult, load_weights=False))

        self.task, self.n_labels = task, n_labels
        self.net = build_network(layers, input_shape, head, load_weights=load_weights)
        self.freeze_epochs, self.backbone_lr_mult = _check_fine_tuning(self.net, freeze_epochs, backbone_lr_mult)
        _check_head(self.task_def, layers, input_shape, head)
        self.loss_fn = LOSSES[loss](label_smoothing=label_smoothing, class_weights=class_weights,
                                    huber_delta=huber_delta)
        self.val_metrics = self.task_def.build_metrics(n_labels, "val")
        self.test_metrics = self.task_def.build_metrics(n_labels, "test")
        self._val_confmat = self.task_def.build_confusion(n_labels)
        self._nonfinite: torch.Tensor | None = None  # accumulated flag on accelerators
        self._nonfinite_since = 0
        self._epoch_loss: torch.Tensor | None = None  # sum of loss x batch size this epoch, on the device
        self._epoch_samples = 0
        self.example_input_array = torch.zeros(1, *input_shape)  # (1, C, H, W) for ModelSummary

    # ---- forward / steps -------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) → logits (B, n_labels), or (B, 1) for binary / regression."""
        if self.speed["channels_last"] and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)  # (B, C, H, W) stored NHWC
        compiled = self.__dict__.get("_compiled_net") if self.training else None
        return (compiled or self.net)(x)

    def configure_model(self) -> None:
        """Before the optimizer exists and a checkpoint is restored: memory order and compilation.

        ``Module.to(memory_format=...)`` swaps each parameter's data in place, so the optimizer and
        its state see the same tensors. The compiled network shares the weights and is kept out of
        the module tree (``__dict__``), so ``state_dict`` keys stay those of ``self.net``.
        """
        if self.speed["channels_last"]:
            self.net.to(memory_format=torch.channels_last)
        if self.speed["compile"] is not None and "_compiled_net" not in self.__dict__:
            self.__dict__["_compiled_net"] = torch.compile(self.net, **self.speed["compile"])

    def _loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward one ``(x, y)`` batch; return (logits (B, head), target, loss)."""
        x, y = batch
        logits = self(x)  # (B, head)
        out, target = self.task_def.loss_inputs(logits, y)
        return logits, target, self.loss_fn(out, target)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        """Loss on one batch; stops the run if it is not finite."""
        _, target, loss = self._loss(batch)
        self._guard_finite(loss, batch_idx)
        # Two names on purpose: Lightning would rename an on_step+on_epoch "train/loss" to
        # "train/loss_step"/"_epoch", and every reader (pruning, dashboards) expects "train/loss".
        # self.log costs ~0.3 ms (as much as a small model's whole step on a GPU), so train/loss is
        # logged on the steps Lightning writes or shows on a bar, and on each epoch's last step (what
        # callbacks read at epoch end); the epoch mean is kept here.
        if self._bar_shown or self._step_is_written or self._trainer.is_last_batch:
            self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=self._bar_shown,
                     batch_size=target.shape[0])
        weighted = loss.detach() * target.shape[0]
        self._epoch_loss = weighted if self._epoch_loss is None else self._epoch_loss + weighted
        self._epoch_samples += target.shape[0]
        return loss

    @property
    def _step_is_written(self) -> bool:
        """Will Lightning write this step's logged values (``log_every_n_steps``)?"""
        trainer = self._trainer
        connector = getattr(trainer, "_logger_connector", None)
        return bool(getattr(connector, "should_update_logs", True) or getattr(trainer, "fast_dev_run", False))

    @property
    def _bar_shown(self) -> bool:
        # Lightning turns every progress-bar value into a Python number after each step, bar or no
        # bar: a host sync per step. Without a bar, train/loss stays a device tensor until logged.
        trainer = self._trainer
        return trainer is not None and trainer.progress_bar_callback is not None

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """Update val/* metrics and the confusion matrix."""
        preds, target = self._evaluate(batch, "val", self.val_metrics)
        if self._val_confmat is not None:
            self._val_confmat.update(preds, target)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        """Update test/* metrics."""
        self._evaluate(batch, "test", self.test_metrics)

    def _evaluate(self, batch: Batch, stage: str, metrics: Any) -> tuple[torch.Tensor, torch.Tensor]:
        logits, target, loss = self._loss(batch)
        self.log(f"{stage}/loss", loss, on_epoch=True, prog_bar=True, batch_size=target.shape[0])
        preds, target = self.task_def.metric_inputs(self.task_def.outputs(logits.detach()), target)
        metrics.update(preds, target)
        self.log_dict(metrics, on_epoch=True, batch_size=target.shape[0])
        return preds, target

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """The task's outputs (B, head): probabilities, P(label 1), or values (what exports return)."""
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self.task_def.outputs(self(x))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam(lr=1e-3) over :meth:`param_groups`; the fit CLI replaces it from ``optimizer:``."""
        return torch.optim.Adam(self.param_groups(1e-3), lr=1e-3)

    # ---- fine-tuning a Backbone ------------------------------------------------------------
    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimizer groups: the layers after the Backbone at ``lr``, its trainable blocks at
        ``lr * backbone_lr_mult`` (recorded as ``lr_mult``, for schedulers built later); frozen
        blocks are left out (they never get a gradient)."""
        backbones = find_backbones(self.net)
        if not backbones:
            return [{"params": list(self.parameters())}]
        inside = {id(p) for b in backbones for p in b.parameters()}
        head = [p for p in self.parameters() if id(p) not in inside]
        tuned = [p for b in backbones for p in b.backbone_parameters()]
        mult = self.backbone_lr_mult
        return [{"params": head}] + ([{"params": tuned, "lr": lr * mult, "lr_mult": mult}] if tuned else [])

    def on_train_epoch_start(self) -> None:
        """A fresh epoch-loss sum; head only for the first ``freeze_epochs`` epochs, then the
        Backbone's trainable blocks too."""
        self._epoch_loss, self._epoch_samples = None, 0
        for backbone in find_backbones(self.net):
            backbone.set_head_only(self.current_epoch < self.freeze_epochs)

    # ---- confusion matrix ------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        """Start a fresh confusion matrix for this validation epoch."""
        if self._val_confmat is not None:
            self._val_confmat.reset()

    @property
    def val_confusion(self) -> torch.Tensor | None:
        """Confusion matrix (rows: true, cols: predicted) of the latest validation epoch, on CPU.

        Computed on access, so a callback's ``on_validation_epoch_end`` (which Lightning runs
        before the module's own) already sees the epoch that just ended.
        """
        if self._val_confmat is None or self._val_confmat.update_count == 0:
            return None
        return self._val_confmat.compute().detach().cpu()

    # ---- non-finite loss -------------------------------------------------------------------
    def _guard_finite(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Stop at a NaN/inf loss: at once on CPU; on accelerators every N steps (no per-step sync)."""
        every_step = self.check_every_step
        if every_step if every_step is not None else loss.device.type == "cpu":
            if not torch.isfinite(loss):
                value = loss.item()
                kind = "nan" if value != value else ("inf" if value > 0 else "-inf")
                self._raise_nonfinite(kind, f"step {batch_idx}")
            return
        bad = ~torch.isfinite(loss.detach())
        if self._nonfinite is None:
            self._nonfinite, self._nonfinite_since = bad, batch_idx
        else:
            self._nonfinite |= bad
        if (batch_idx + 1) % self.nonfinite_check_every == 0:
            self._check_accumulated(batch_idx)

    def on_train_epoch_end(self) -> None:
        """Flush the accumulated non-finite flag (accelerators); log the epoch's mean train loss."""
        self._check_accumulated(None)
        if self._epoch_loss is not None:
            self.log("train/loss_epoch", self._epoch_loss / self._epoch_samples, on_step=False, on_epoch=True)

    def _check_accumulated(self, batch_idx: int | None) -> None:
        if self._nonfinite is None:
            return
        flag, since = bool(self._nonfinite), self._nonfinite_since  # one host sync per window
        self._nonfinite = None
        if flag:
            end = "the epoch end" if batch_idx is None else f"step {batch_idx}"
            self._raise_nonfinite("nan or inf", f"a step between step {since} and {end}")

    def _raise_nonfinite(self, kind: str, where: str) -> None:
        raise NonFiniteLossError(
            f"train/loss became {kind} at epoch {self.current_epoch} {where}: lower "
            f"optimizer.init_args.lr (now {_current_lr(self)}), check the inputs for NaN/inf, "
            f"or set trainer.gradient_clip_val")


def _current_lr(module: L.LightningModule) -> str:
    try:
        return f"{module.trainer.optimizers[0].param_groups[0]['lr']:g}"
    except (RuntimeError, AttributeError, IndexError, KeyError, TypeError):
        return "unknown"


def _choose_spec(layers: list[dict] | None, preset: str | None) -> list[dict]:
    if layers is not None and preset is not None:
        raise UserError(f"model: both layers and preset ({preset!r}) are set; fix: keep one of them")
    if layers is None and preset is None:
        from autolit.modules.presets import PRESETS

        raise UserError("model: neither layers nor preset is set; fix: add model.layers (a layer "
                        f"list) or model.preset ({', '.join(PRESETS)})")
    return preset_spec(preset) if preset is not None else layers


def _check_fine_tuning(net: torch.nn.Module, freeze_epochs: Any, mult: Any) -> tuple[int, float]:
    if not isinstance(freeze_epochs, int) or isinstance(freeze_epochs, bool) or freeze_epochs < 0:
        raise UserError(f"model.freeze_epochs must be an integer >= 0, got {freeze_epochs!r}")
    if not isinstance(mult, (int, float)) or isinstance(mult, bool) or not mult >= 0:
        raise UserError(f"model.backbone_lr_mult must be a number >= 0, got {mult!r}; fix: e.g. 0.1")
    if (freeze_epochs or mult != 1) and not find_backbones(net):
        key = "freeze_epochs" if freeze_epochs else "backbone_lr_mult"
        raise UserError(f"model.{key} is set but model.layers has no Backbone layer; fix: remove "
                        f"model.{key} or start the spec with - Backbone: {{name: ...}}")
    return freeze_epochs, float(mult)


def _check_n_labels(task: str, n_labels: int | None, label_names: list[str] | None) -> int:
    """The label count the metrics use: n_labels (or len(label_names)); 2 for binary."""
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


def _check_input_shape(input_shape: list[int] | None) -> list[int]:
    if input_shape is None:
        raise UserError("model.input_shape is not set; fix: pass [C, H, W] (the fit CLI links "
                        "data.input_shape)")
    return list(input_shape)


def _check_head(task: Task, layers: list[dict], input_shape: list[int], head: int) -> None:
    """The network must end in (B, head): n_labels logits, or one logit / value."""
    out = output_shape(layers, input_shape, head)
    if out != (head,):
        what = f"{head} labels" if task.name == "multiclass" else "one output"
        raise UserError(f"model.layers: the network outputs {fmt_shape(out, batch=True)} but task "
                        f"{task.name} needs (B, {head}) ({what}); fix: end with Linear: "
                        f"{{out_features: n_labels}} after Flatten")
