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

from autolit.modules.arguments import check_fine_tuning, check_head, check_input_shape, check_n_labels, choose_spec
from autolit.modules.backbone import find_backbones
from autolit.modules.losses import LOSSES, check_loss, check_loss_args
from autolit.modules.nonfinite import NonFiniteGuard
from autolit.modules.spec import build_network, resolve_spec
from autolit.modules.speed import check_speed_options
from autolit.modules.tasks import get_task

Batch = tuple[torch.Tensor, torch.Tensor]
# A Backbone keeps its frozen blocks' BatchNorm in eval on purpose (statistics frozen); Lightning's
# notice about modules in eval mode at the start of training names nothing to fix then.
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")


class AutoLitModule(NonFiniteGuard, L.LightningModule):
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
        n_labels = check_n_labels(task, n_labels, label_names)
        input_shape = check_input_shape(input_shape)
        loss = check_loss(self.task_def, loss)
        check_loss_args(task, n_labels, label_smoothing, class_weights, huber_delta)
        head = self.task_def.head_width(n_labels)
        layers = resolve_spec(choose_spec(layers, preset), input_shape, head)
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
        self.freeze_epochs, self.backbone_lr_mult = check_fine_tuning(self.net, freeze_epochs, backbone_lr_mult)
        check_head(self.task_def, layers, input_shape, head)
        self.loss_fn = LOSSES[loss](label_smoothing=label_smoothing, class_weights=class_weights,
                                    huber_delta=huber_delta)
        self.val_metrics = self.task_def.build_metrics(n_labels, "val")
        self.test_metrics = self.task_def.build_metrics(n_labels, "test")
        self._val_confmat = self.task_def.build_confusion(n_labels)
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

    def on_train_epoch_end(self) -> None:
        """Flush the accumulated non-finite flag (accelerators); log the epoch's mean train loss."""
        self._check_accumulated(None)
        if self._epoch_loss is not None:
            self.log("train/loss_epoch", self._epoch_loss / self._epoch_samples, on_step=False, on_epoch=True)
