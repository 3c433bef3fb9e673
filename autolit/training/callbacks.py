"""Callbacks of a fit: TensorBoard extras (a labelled grid of sample images and a confusion-matrix
figure, both drawn at the size TensorBoard's image card and the search report show them), the best
epoch's val metrics, and ``last.ckpt`` kept also when a fit is stopped."""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from autolit.store.sheet import INK, RIGHT, WRONG, Tile, contact_sheet
from autolit.training.figures import confusion_figure, to_rgb


def _tensorboard(trainer: L.Trainer):
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


class SampleGrid(L.Callback):
    """Logs ``samples/val``: up to ``n`` validation images (as the loader serves them), each captioned
    with its true label and, after every validation epoch, the model's prediction (green and framed
    green when right, red when wrong; a value for regression). The batch is taken once, at the
    start of the fit, so the pictures of successive epochs show the same images."""

    def __init__(self, n: int = 32, cell: int = 72, cols: int = 8) -> None:
        self.n, self.cell, self.cols = n, cell, cols
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if _tensorboard(trainer) is None or trainer.datamodule is None:
            return
        x, y = next(iter(trainer.datamodule.val_dataloader()))  # uint8 (B, C, H, W), before normalisation
        self._batch = (x[: self.n].cpu(), y[: self.n].cpu())

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = _tensorboard(trainer)
        if self._batch is None or writer is None or trainer.sanity_checking:
            return
        x, y = self._batch
        names = list(getattr(trainer.datamodule, "label_names", []) or [])
        sheet = sample_sheet(x, y, names, _predict(trainer, pl_module, x, y), self.cell, self.cols)
        writer.add_image("samples/val", np.asarray(sheet), global_step=trainer.global_step, dataformats="HWC")


def _predict(trainer: L.Trainer, pl_module: L.LightningModule, x: torch.Tensor, y: torch.Tensor) -> list | None:
    """The model's prediction per image (a class index, or a value for regression), or None when the
    module is not an autolit one (no task to read its outputs by)."""
    task = getattr(pl_module, "task_def", None)
    if task is None:
        return None
    batch = (x.to(pl_module.device), y.to(pl_module.device))
    xb, _ = trainer.datamodule.on_after_batch_transfer(batch, 0)  # the normalisation validation applies
    with torch.no_grad():
        outputs = task.outputs(pl_module(xb)).float().cpu().numpy()
    return outputs[:, 0].tolist() if not task.classification else task.top1(outputs).tolist()


def sample_sheet(x: torch.Tensor, y: torch.Tensor, names: list[str], predicted: list | None, cell: int,
                 cols: int):
    """The contact sheet of ``x`` (uint8 ``(B, C, H, W)``): true label, then the prediction when known."""
    from PIL import Image

    tiles = []
    for img, target, i in zip(x, y, range(len(x))):
        pixels = img.permute(1, 2, 0).numpy()
        image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        classes = bool(names) and not target.is_floating_point()
        truth = names[int(target)] if classes else f"{float(target):.3g}"
        lines, frame = [(truth, INK)], None
        if predicted is not None and classes:
            right = int(predicted[i]) == int(target)
            lines.append((f"pred {names[int(predicted[i])]}", RIGHT if right else WRONG))
            frame = RIGHT if right else WRONG
        elif predicted is not None:
            lines.append((f"pred {predicted[i]:.3g}", INK))
        tiles.append(Tile(image, lines, frame))
    return contact_sheet(tiles, cell, cols=min(cols, len(tiles)))


class ConfusionMatrixFigure(L.Callback):
    """Logs ``val/confusion_matrix`` after every validation epoch (classification tasks), drawn by
    :func:`autolit.training.figures.confusion_figure` at the size it is shown."""

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        matrix = getattr(pl_module, "val_confusion", None)
        writer = _tensorboard(trainer)
        if matrix is None or writer is None or trainer.sanity_checking:
            return
        matrix = torch.as_tensor(matrix).cpu().long().numpy()
        names = list(getattr(pl_module.hparams, "label_names", None) or range(len(matrix)))
        fig = confusion_figure(matrix, names, split="val", epochs=trainer.current_epoch + 1)
        writer.add_image("val/confusion_matrix", to_rgb(fig), global_step=trainer.global_step, dataformats="HWC")


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
