"""Stop a fit at a NaN/inf training loss, without a host sync per step on accelerators.

On the CPU a check costs nothing, so every step is checked and the error names the step. On an
accelerator, ``torch.isfinite(loss)`` read back each step would stall the device: the flags are
OR-ed on the device and read every :attr:`NonFiniteGuard.nonfinite_check_every` steps and at the
epoch end, and the error names the window.
"""

from __future__ import annotations

import lightning as L
import torch

from autolit.modules.errors import NonFiniteLossError


class NonFiniteGuard:
    """Mixin for a LightningModule: ``self._guard_finite(loss, batch_idx)`` in each training step,
    ``self._check_accumulated(None)`` at the epoch end."""

    #: on accelerators the finite-loss check syncs with the host only this often (and at epoch end)
    nonfinite_check_every: int = 50
    #: check every step (stop at the first bad one)? None: only on CPU, where it costs no sync
    check_every_step: bool | None = None
    _nonfinite: torch.Tensor | None = None   # accumulated flag on accelerators
    _nonfinite_since: int = 0

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
