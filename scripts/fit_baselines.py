"""The hand-written training loops ``scripts/bench_fit.py`` measures autolit.fit against.

A loop reads its settings from a fit config dict (the same one autolit.fit runs), so both sides train
the same network (built from the same spec), on the same decoded uint8 data on the same device,
normalised per batch the same way, with the same batch size, precision, memory order, optimiser and
one-cycle schedule. What it leaves out is everything Lightning adds: hooks, logging, checkpoints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from autolit.datamodules import StoreDataModule
from autolit.datamodules import cache as decoded_cache
from autolit.modules.presets import preset_spec
from autolit.modules.spec import build_network
from autolit.store import StoreWriter, encode_array

#: the optimisers the configs here name (a plain map: a class path from a file is never imported)
OPTIMIZERS = {"torch.optim.Adam": torch.optim.Adam, "torch.optim.AdamW": torch.optim.AdamW,
              "torch.optim.SGD": torch.optim.SGD}


@dataclass
class Loop:
    """What a hand-written loop needs to know, read off a fit config."""

    layers: list[dict]
    batch_size: int
    bf16: bool
    channels_last: bool
    optimizer: type[torch.optim.Optimizer]
    optimizer_args: dict[str, Any]
    one_cycle: dict[str, Any] | None
    epochs: int

    @classmethod
    def from_config(cls, config: dict) -> "Loop":
        model, trainer = config["model"], config.get("trainer", {})
        optimizer = config.get("optimizer") or {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3}}
        scheduler = config.get("lr_scheduler") or {}
        one_cycle = None
        if scheduler.get("class_path") == "torch.optim.lr_scheduler.OneCycleLR":
            one_cycle = dict(scheduler.get("init_args") or {})
        layers = model.get("layers") or preset_spec(model["preset"])
        return cls(layers=layers, batch_size=config["data"]["batch_size"],
                   bf16=str(trainer.get("precision", "32-true")).startswith("bf16"),
                   channels_last=bool(model.get("channels_last")), optimizer=OPTIMIZERS[optimizer["class_path"]],
                   optimizer_args=dict(optimizer.get("init_args") or {}), one_cycle=one_cycle,
                   epochs=int(trainer.get("max_epochs", 1)))


class DeviceData:
    """The store's decoded cache on ``device`` (uint8) and autolit's normalisation."""

    def __init__(self, store: Path, device: torch.device) -> None:
        data = StoreDataModule(store=str(store))
        cache = decoded_cache.get_or_build(data.reader, data.image_size, data.channels)
        self.input_shape, self.n_labels, self.device = data.input_shape, data.n_labels, device
        self.train = decoded_cache.to_device(cache, "train", device)
        self.test = decoded_cache.to_device(cache, "test", device)
        self.mean, self.std = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in data.mean_std)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float().div_(255.0) - self.mean) / self.std  # what StoreDataModule does per batch


def synthetic_store(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    with StoreWriter(path, labels=[str(i) for i in range(10)], batch_size=2048) as writer:
        for i in range(n):
            label = i % 10
            img = rng.integers(0, 60, (28, 28), dtype=np.uint8)
            img[2 * label: 2 * label + 6, 4:24] += 150  # a learnable, label-dependent bar
            writer.add_normalized(encode_array(img), label=str(label), source=f"synthetic/{i}")
    return path


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate(net: torch.nn.Module, data: DeviceData, loop: Loop) -> float:
    """Test accuracy (one host read at the end)."""
    net.eval()
    x_all, y_all = data.test
    correct = torch.zeros((), dtype=torch.long, device=data.device)
    with torch.no_grad(), torch.autocast(data.device.type, dtype=torch.bfloat16, enabled=loop.bf16):
        for start in range(0, len(x_all), 2000):
            x = data.normalize(x_all[start:start + 2000])
            if loop.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            correct += (net(x).argmax(1) == y_all[start:start + 2000]).sum()
    net.train()
    return correct.item() / len(x_all)


def train(loop: Loop, data: DeviceData, *, seed: int = 0, epochs: int | None = None,
          until: float | None = None, checks_per_epoch: int = 4, max_steps: int | None = None) -> dict:
    """Train by hand; training seconds exclude the accuracy checks.

    ``until``: stop at the first check (``checks_per_epoch`` per epoch) whose test accuracy reaches
    it, and report the seconds spent training up to there. Otherwise train ``epochs`` (default:
    the config's) and report per-epoch seconds and the final test accuracy.
    """
    device = data.device
    torch.manual_seed(seed)
    net = build_network(loop.layers, data.input_shape, data.n_labels).to(device)
    if loop.channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = loop.optimizer(net.parameters(), **loop.optimizer_args)
    epochs = epochs or loop.epochs
    x_all, y_all = data.train
    per_epoch = math.ceil(len(x_all) / loop.batch_size)
    total = min(epochs * per_epoch, max_steps or epochs * per_epoch)
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, total_steps=total, **loop.one_cycle)
             if loop.one_cycle else None)
    check_at = {round(per_epoch * (i + 1) / checks_per_epoch) for i in range(checks_per_epoch)}
    epoch_s, acc, step = [], None, 0
    sync(device)
    start = time.perf_counter()
    while step < total:
        for idx in torch.randperm(len(x_all), device=device).split(loop.batch_size):
            x = data.normalize(x_all[idx])  # (B, C, H, W) float32
            if loop.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=loop.bf16):
                loss = F.cross_entropy(net(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            if until is not None and (step % per_epoch or per_epoch) in check_at:
                sync(device)
                epoch_s.append(time.perf_counter() - start)  # here: one entry per check
                acc = evaluate(net, data, loop)
                if acc >= until:
                    return {"train_s": sum(epoch_s), "test_acc": acc, "epochs": step / per_epoch, "reached": True}
                start = time.perf_counter()
            if step >= total:
                break
        if until is None:
            sync(device)
            epoch_s.append(time.perf_counter() - start)
            start = time.perf_counter()
    acc = evaluate(net, data, loop) if acc is None or until is None else acc
    return {"train_s": sum(epoch_s), "test_acc": acc, "epochs": step / per_epoch, "epoch_s": epoch_s,
            "reached": until is None or acc >= until}
