"""Seconds per training epoch: autolit.fit's loop versus a hand-written PyTorch loop.

    python scripts/bench_fit.py [--quick] [--epochs 4] [--n 12000] [--batch-size 128] [--device cpu|cuda]

Both sides train the same network (the ``keras_mnist`` preset, 93,322 parameters, or ``--preset``)
on the same in-memory data (a synthetic 28x28 store; ``--store PATH`` for a real one), with the same
batch size, optimiser (Adam, lr 1e-3) and seed, in this one process, alternating so neither gets a
warmer machine. autolit runs the real fit path (``autolit.fit.build_cli``: StoreDataModule in
device mode, AutoLitModule, Lightning Trainer with its default callbacks) with validation off;
the baseline is the loop people write by hand. The first epoch of each is warm-up and not counted.
The last line is JSON with ``autolit_vs_handwritten`` (time ratio; target <= 1.10).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from autolit.fit import build_cli
from autolit.store import StoreWriter, encode_array


class EpochTimer(L.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._start)


def synthetic_store(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    with StoreWriter(path, labels=[str(i) for i in range(10)], batch_size=2048) as writer:
        for i in range(n):
            label = i % 10
            img = rng.integers(0, 60, (28, 28), dtype=np.uint8)
            img[2 * label: 2 * label + 6, 4:24] += 150  # a learnable, label-dependent bar
            writer.add_normalized(encode_array(img), label=str(label), source=f"synthetic/{i}")


def autolit_epochs(store: Path, args, run_dir: Path) -> list[float]:
    timer = EpochTimer()
    config = {
        "seed_everything": 0,
        "trainer": {"max_epochs": args.epochs, "accelerator": args.device, "devices": 1, "logger": False,
                    "limit_val_batches": 0, "num_sanity_val_steps": 0, "enable_checkpointing": False},
        "model": {"task": "multiclass", "preset": args.preset},
        "data": {"store": str(store), "batch_size": args.batch_size, "cache": "device"},
        "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3}},
    }
    cli = build_cli(config, run_dir=run_dir, extra_callbacks=[timer], progress=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return timer.times


def handwritten_epochs(store: Path, args) -> list[float]:
    """The loop a user writes by hand: same data on the device, same network, same optimiser."""
    config = {"trainer": {"accelerator": args.device, "logger": False},
              "model": {"task": "multiclass", "preset": args.preset},
              "data": {"store": str(store), "batch_size": args.batch_size, "cache": "device"}}
    cli = build_cli(config, run_dir=Path(tempfile.mkdtemp()), progress=False)  # reuse only to build the same net
    data, device = cli.datamodule, torch.device(args.device)
    from autolit.datamodules import cache as decoded_cache

    cache = decoded_cache.get_or_build(data.reader, data.image_size, data.channels)
    x_all, y_all = decoded_cache.to_device(cache, "train", device)
    mean, std = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in data.mean_std)
    torch.manual_seed(0)
    net = cli.model.net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        net.train()
        for idx in torch.randperm(len(x_all), device=device).split(args.batch_size):
            x = (x_all[idx].float() / 255 - mean) / std
            loss = loss_fn(net(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data and 3 epochs")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n", type=int, default=12000, help="synthetic images")
    parser.add_argument("--store", type=Path, help="a real store instead of synthetic data")
    parser.add_argument("--preset", default="keras_mnist")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of both sides")
    args = parser.parse_args()
    if args.quick:
        args.n, args.epochs, args.rounds = 3000, 3, 1
    work = Path(tempfile.mkdtemp(prefix="bench_fit-"))
    store = args.store or work / "store"
    if args.store is None:
        synthetic_store(store, args.n)
    hand, ours = [], []
    for r in range(args.rounds):
        hand += handwritten_epochs(store, args)[1:]
        ours += autolit_epochs(store, args, work / f"run{r}")[1:]
    h, a = statistics.median(hand), statistics.median(ours)
    print(f"\n{'loop':<14}{'s/epoch (median)':>18}{'epochs timed':>14}")
    print(f"{'handwritten':<14}{h:>18.3f}{len(hand):>14}")
    print(f"{'autolit.fit':<14}{a:>18.3f}{len(ours):>14}")
    print(f"device={args.device} preset={args.preset} batch={args.batch_size} torch={torch.__version__}")
    print(json.dumps({"autolit_vs_handwritten": round(a / h, 3), "handwritten_s_per_epoch": round(h, 4),
                      "autolit_s_per_epoch": round(a, 4), "device": args.device, "batch_size": args.batch_size}))


if __name__ == "__main__":
    main()
