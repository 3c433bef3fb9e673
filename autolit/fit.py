"""Train a spec-built model on a store, test its best checkpoint, track it all in TensorBoard.

    python -m autolit.fit --config configs/digits.yaml
    python -m autolit.fit --config configs/mnist.yaml --trainer.max_epochs=3
    python -m autolit.fit --config configs/digits.yaml --print_config
    python -m autolit.fit --config configs/digits.yaml --ckpt_path last     # resume the newest run

A fit config is a LightningCLI config (``trainer:``, ``model:``, ``data:``, optional ``optimizer:``
and ``lr_scheduler:``). Runs land in ``runs/<config name>/version_<n>/`` with TensorBoard events,
``checkpoints/{best,last}.ckpt``, ``config.yaml`` (as given) and ``resolved.yaml`` (every ``auto``
filled in, the seed, the store fingerprint). The work is done by :mod:`autolit.training`
(``build_cli``, ``fit_and_test``, ``run_fit``); this module parses the command line and prints.
"""

from __future__ import annotations

from autolit.errors import UserError, run_cli
from autolit.modules import NonFiniteLossError
from autolit.training.cli import RUNS, build_cli
from autolit.training.run import fit_and_test


def main() -> int:
    cli = build_cli(None)
    try:
        result = fit_and_test(cli)
    except NonFiniteLossError as exc:
        raise UserError(str(exc)) from None
    print(f"\nrun: {result.run_dir}   (tensorboard --logdir {RUNS})")
    print(f"best checkpoint: {result.best_checkpoint}")
    for name in sorted(result.metrics):
        print(f"{name:>12} = {result.metrics[name]:.4f}")
    return 0


if __name__ == "__main__":
    run_cli(main)
