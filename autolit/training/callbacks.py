"""Callbacks of a fit: TensorBoard extras (a labelled grid of sample images, a confusion-matrix
figure), the best epoch's val metrics, and ``last.ckpt`` kept also when a fit is stopped."""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException


def _tensorboard(trainer: L.Trainer):
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


class SampleGrid(L.Callback):
    """Logs ``samples/val``: up to ``n`` validation images (as the loader serves them) with their labels."""

    def __init__(self, n: int = 32) -> None:
        self.n = n

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = _tensorboard(trainer)
        if writer is None or trainer.datamodule is None:
            return
        x, y = next(iter(trainer.datamodule.val_dataloader()))  # uint8 (B, C, H, W), before normalisation
        x, y = x[: self.n].cpu(), y[: self.n].cpu()
        names = getattr(trainer.datamodule, "label_names", []) or []
        plt = _figure()
        cols = min(8, len(x))
        rows = math.ceil(len(x) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, img, target in zip(axes.flat, x, y):
            ax.imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if img.shape[0] == 1 else None)
            value = target.item()
            ax.set_title(names[int(value)] if names and not target.is_floating_point() else f"{value:.3g}",
                         fontsize=8)
        fig.tight_layout()
        writer.add_figure("samples/val", fig, global_step=0)
        plt.close(fig)


class ConfusionMatrixFigure(L.Callback):
    """Logs ``val/confusion_matrix`` after every validation epoch (classification tasks)."""

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        matrix = getattr(pl_module, "val_confusion", None)
        writer = _tensorboard(trainer)
        if matrix is None or writer is None or trainer.sanity_checking:
            return
        matrix = torch.as_tensor(matrix).cpu().long()
        names = list(getattr(pl_module.hparams, "label_names", None) or range(len(matrix)))
        if len(names) != len(matrix):
            names = list(range(len(matrix)))
        plt = _figure()
        size = max(3.0, 0.5 * len(matrix) + 1.5)
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(matrix.numpy(), cmap="Blues")
        ax.set_xticks(range(len(names)), [str(n) for n in names], rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(names)), [str(n) for n in names], fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for i in range(len(matrix)):
            for j in range(len(matrix)):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=6)
        fig.tight_layout()
        writer.add_figure("val/confusion_matrix", fig, global_step=trainer.global_step)
        plt.close(fig)


class BestValMetrics(L.Callback):
    """Keeps every ``val/*`` metric of the epoch that was best by ``monitor``: the best checkpoint's."""

    def __init__(self, monitor: str, mode: str) -> None:
        self.monitor, self.mode = monitor, mode
        self.metrics: dict[str, float] = {}

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        best = self.metrics.get(self.monitor)
        # A NaN compares False with everything: a first NaN epoch stayed "best" for good. Like
        # ModelCheckpoint, never prefer a non-finite value; keep one only while nothing else was seen.
        if best is None or (math.isfinite(value) and (not math.isfinite(best) or self._better(value, best))):
            self.metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}

    def _better(self, value: float, best: float) -> bool:
        return value > best if self.mode == "max" else value < best

    def state_dict(self) -> dict:
        return {"metrics": self.metrics}

    def load_state_dict(self, state_dict: dict) -> None:
        self.metrics = dict(state_dict.get("metrics", {}))


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt``: written at every epoch's end, and where a fit is stopped mid-epoch.

    A stopped fit (``kill -TERM``, the job service's stop, Ctrl-C) ends with Lightning's
    ``SIGTERMException`` or a KeyboardInterrupt after the batch it was in; saving then lets
    ``--ckpt_path last`` resume from that step instead of redoing the epoch (Lightning's own
    ``save_on_exception`` would also save after a crash or a NaN loss, a state not worth resuming).
    Only while fitting: a stop during the final test would record the best weights as the last.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(monitor=None, save_top_k=1, filename="last", enable_version_counter=False, **kwargs)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        stopped = isinstance(exception, (SIGTERMException, KeyboardInterrupt))
        if stopped and trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking and self.dirpath:
            trainer.save_checkpoint(self.format_checkpoint_name({}))
