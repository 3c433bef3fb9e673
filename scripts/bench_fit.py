"""Fit speed: autolit.fit against hand-written PyTorch loops, and the speed recipe to 99% on MNIST.

    python scripts/bench_fit.py                          # CPU: both parts below
    python scripts/bench_fit.py --quick                  # smaller: 1 round, fewer epochs
    python scripts/bench_fit.py --parts overhead [--epochs 4] [--n 12000] [--batch-size 128] [--store PATH]
    python scripts/bench_fit.py --parts recipe [--mnist ../shared/data/mnist] [--rounds 2] [--threads 1]
    python scripts/bench_fit.py --gpu [--mnist .data/mnist]   # on a GPU: mnist_fast's settings in both parts
    python scripts/bench_fit.py --smallest [--gpu]       # CI: seconds, the same code (no CUDA: on the CPU)

1. **overhead**: seconds per training epoch of autolit.fit's real path (StoreDataModule in device mode,
   AutoLitModule, Lightning Trainer and autolit's callbacks; validation off) against the hand-written
   loop (``scripts/fit_baselines.py``) with the same network, data placement, batch, precision,
   memory order, optimiser and schedule, alternating in one process; the first epoch of each is not
   counted. CPU: the keras_mnist preset in fp32 on synthetic 28x28 data (``--store`` for a real
   one), target <= 1.10. ``--gpu``: configs/mnist_fast.yaml's settings on MNIST, target <= 1.0.
2. **recipe**: ``configs/mnist_fast.yaml`` through autolit.fit (the whole fit: validation, checkpoints,
   TensorBoard, then the test of the best checkpoint); its *training seconds* (the training steps
   only) and test accuracy; the same recipe as a hand-written loop; and the hand-written Keras-CNN
   loop (keras_mnist, Adam 1e-3, batch 128, fp32) trained until its test accuracy reaches 99%
   (checked every quarter epoch; checks not timed). Targets: recipe <= 0.5 x the Keras loop on
   CPU; recipe <= 1.0 s of training on an H200. Each round uses the next seed on all three.

3. **variants** (``--parts variants --variants recipe,fp32,...``): the recipe with one key changed,
   one fit each, to show what each key gives: ``fp32`` (trainer.precision 32-true), ``contiguous``
   (model.channels_last false), ``unfused`` (optimizer fused false), ``batch256`` / ``batch1024``,
   ``benchmark`` (trainer.benchmark: cuDNN autotuning), ``compile`` (model.compile true; run twice:
   cold, then warm in the same process), ``cudagraphs`` (model.compile reduce-overhead).

``--smallest`` (what CI and ``scripts/gpu_check.sh --cpu`` run): 1 round, 1 thread, 2 overhead
epochs on 256 images, the Keras loop for 1 epoch, no warm-up, only the first of ``--variants``, and
MNIST cut to its first 2,000 + 200 images (``scripts/mnist_subset.py``) unless ``--mnist-store`` is
given; ``--gpu --smallest`` runs the GPU mode's code on the CPU where there is no CUDA.

A warm-up (a few steps of each loop) runs first. The last line is JSON; ``--json-out`` rewrites it
after every part, so a run stopped by a time limit keeps what it measured.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_baselines import DeviceData, Loop, sync, synthetic_store, train  # noqa: E402
from mnist_subset import mnist_store  # noqa: E402

from autolit.errors import UserError, run_cli  # noqa: E402
from autolit.training import build_cli, fit_and_test  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "mnist_fast.yaml"
KERAS = {"model": {"task": "multiclass", "preset": "keras_mnist"}, "data": {"batch_size": 128},
         "trainer": {"precision": "32-true", "max_epochs": 10},
         "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3}}}


class TrainTimer(L.Callback):
    """Seconds of training steps per epoch: epoch start to its last batch (validation excluded)."""

    def __init__(self) -> None:
        self.epochs: list[float] = []
        self._start: float | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        sync(pl_module.device)
        self._start = time.perf_counter()

    def on_validation_start(self, trainer, pl_module) -> None:
        self._close(pl_module)  # validation runs inside the epoch, before on_train_epoch_end

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._close(pl_module)

    def _close(self, pl_module) -> None:
        if self._start is not None:
            sync(pl_module.device)
            self.epochs.append(time.perf_counter() - self._start)
            self._start = None


def recipe_config(store: Path, seed: int = 0) -> dict:
    config = yaml.safe_load(RECIPE.read_text())
    config["data"].update(store=str(store), source=None)
    config["seed_everything"] = seed
    return config


def overhead_config(args, store: Path) -> dict:
    """The fit both sides of part 1 run: mnist_fast's settings on a GPU, keras_mnist fp32 on CPU."""
    if args.gpu:
        config = recipe_config(store)
    else:
        config = copy.deepcopy(KERAS) | {"seed_everything": 0}
        config["data"] = {"batch_size": args.batch_size}
    config["data"].update(store=str(store), source=None, cache="device")
    config["trainer"].update(max_epochs=args.epochs, accelerator=args.device, devices=1, logger=False,
                             limit_val_batches=0, num_sanity_val_steps=0, enable_checkpointing=False)
    return config


def autolit_fit(config: dict, run_dir: Path, *, test: bool) -> dict:
    timer = TrainTimer()
    start = time.perf_counter()
    cli = build_cli(copy.deepcopy(config), run_dir=run_dir, extra_callbacks=[timer], progress=False)
    result = fit_and_test(cli, test=test) if test else cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    metrics = result.metrics if test else {}
    return {"train_s": sum(timer.epochs), "epoch_s": timer.epochs, "test_acc": metrics.get("test/acc"),
            "fit_wall_s": time.perf_counter() - start, "epochs": cli.trainer.current_epoch}


def part_overhead(args, store: Path, work: Path) -> dict:
    config = overhead_config(args, store)
    loop, data = Loop.from_config(config), DeviceData(store, torch.device(args.device))
    hand, ours = [], []
    for r in range(args.rounds):
        hand += train(loop, data, epochs=args.epochs)["epoch_s"][1:]
        ours += autolit_fit(config, work / f"overhead{r}", test=False)["epoch_s"][1:]
    h, a = statistics.median(hand), statistics.median(ours)
    return {"autolit_vs_handwritten": round(a / h, 3), "handwritten_s_per_epoch": round(h, 4),
            "autolit_s_per_epoch": round(a, 4), "epochs_timed": len(ours), "batch_size": loop.batch_size,
            "precision": "bf16-mixed" if loop.bf16 else "32-true", "channels_last": loop.channels_last}


def part_recipe(args, store: Path, work: Path) -> dict:
    device = torch.device(args.device)
    data = DeviceData(store, device)
    recipe, keras = Loop.from_config(recipe_config(store)), Loop.from_config(KERAS)
    if not args.no_warmup:  # kernels, allocator, autotuning: not counted
        warm = recipe_config(store)
        warm["trainer"].update(max_steps=10, limit_val_batches=0, num_sanity_val_steps=0)
        autolit_fit(warm, work / "warmup", test=False)
        train(recipe, data, max_steps=10), train(keras, data, max_steps=10)
    rows = []
    for r in range(args.rounds):
        ours = autolit_fit(recipe_config(store, seed=r), work / f"recipe{r}", test=True)
        rows.append({"loop": "autolit mnist_fast", "seed": r, **_row(ours)})
        rows.append({"loop": "hand-written mnist_fast", "seed": r, **_row(train(recipe, data, seed=r))})
        if not args.no_keras:
            rows.append({"loop": "hand-written Keras CNN", "seed": r,
                         **_row(train(keras, data, seed=r, until=args.target))})
    return summarize(rows, args.target)


VARIANTS: dict[str, dict[str, object]] = {
    "recipe": {},
    "fp32": {"trainer.precision": "32-true"},
    "contiguous": {"model.channels_last": False},
    "unfused": {"optimizer.init_args.fused": False},
    "batch256": {"data.batch_size": 256},
    "batch1024": {"data.batch_size": 1024, "lr_scheduler.init_args.max_lr": 0.03},
    "benchmark": {"trainer.benchmark": True},
    "compile": {"model.compile": True},
    "cudagraphs": {"model.compile": "reduce-overhead"},
}


def part_variants(args, store: Path, work: Path, done: dict) -> list[dict]:
    """One recipe fit per variant (``compile``: twice, cold then warm); rows appended to ``done``."""
    if "recipe" not in done and not args.no_warmup:  # the recipe part warmed this process up already
        warm = recipe_config(store)
        warm["trainer"].update(max_steps=10, limit_val_batches=0, num_sanity_val_steps=0)
        autolit_fit(warm, work / "warmup-variants", test=False)
    rows = done.setdefault("variants", [])
    cudnn_benchmark = torch.backends.cudnn.benchmark
    for name in args.variants.split(","):
        torch.backends.cudnn.benchmark = cudnn_benchmark  # trainer.benchmark sets it for the whole process
        config = recipe_config(store)
        for key, value in VARIANTS[name].items():
            section, *path = key.split(".")
            node = config.setdefault(section, {})
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        for label in (("cold", "warm") if name == "compile" else ("",)):
            try:
                result = autolit_fit(config, work / f"variant-{name}{label}", test=True)
            except Exception as exc:  # noqa: BLE001 - one variant failing (compile, CUDA graphs) is a result
                rows.append({"variant": f"{name} {label}".strip(), "error": f"{type(exc).__name__}: {exc}"[:300]})
            else:
                rows.append({"variant": f"{name} {label}".strip(), **_row(result),
                             "epoch_s": [round(e, 3) for e in result["epoch_s"]]})
            args.dump(done)
    return rows


def _row(result: dict) -> dict:
    row = {"train_s": round(result["train_s"], 3), "test_acc": round(result["test_acc"], 4),
           "epochs": round(float(result["epochs"]), 2)}
    if "fit_wall_s" in result:
        row["fit_wall_s"] = round(result["fit_wall_s"], 2)
    if result.get("reached") is False:
        row["note"] = "target not reached"
    return row


def summarize(rows: list[dict], target: float) -> dict:
    def of(loop: str, key: str) -> list[float]:
        return [r[key] for r in rows if r["loop"] == loop]

    ours, hand = of("autolit mnist_fast", "train_s"), of("hand-written mnist_fast", "train_s")
    out = {"rows": rows, "recipe_train_s": statistics.median(ours),
           "recipe_test_acc_min": min(of("autolit mnist_fast", "test_acc")),
           "recipe_reached_target": min(of("autolit mnist_fast", "test_acc")) >= target,
           "handwritten_recipe_train_s": statistics.median(hand),
           "recipe_vs_handwritten_recipe": round(statistics.median(ours) / statistics.median(hand), 3)}
    keras = [r["train_s"] for r in rows if r["loop"] == "hand-written Keras CNN" and "note" not in r]
    if any(r["loop"] == "hand-written Keras CNN" for r in rows):
        out["keras_reached"] = f"{len(keras)}/{len(of('hand-written Keras CNN', 'train_s'))}"
    if keras:
        out["keras_to_target_s"] = statistics.median(keras)
        out["recipe_vs_keras"] = round(out["recipe_train_s"] / out["keras_to_target_s"], 3)
    return out


def table(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[str(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths))]
    return "\n".join(lines + ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 3 overhead epochs on 3,000 images")
    parser.add_argument("--gpu", action="store_true", help="on the GPU, with mnist_fast's settings in part 1")
    parser.add_argument("--parts", default="overhead,recipe", help="overhead, recipe, variants")
    parser.add_argument("--variants", default="recipe,fp32,contiguous,unfused,batch256,batch1024",
                        help=f"for --parts variants: {', '.join(VARIANTS)}")
    parser.add_argument("--keras-max-epochs", type=int, default=10)
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up (dry runs)")
    parser.add_argument("--epochs", type=int, default=4, help="part 1 epochs per side and round")
    parser.add_argument("--n", type=int, default=12000, help="part 1 synthetic images (CPU)")
    parser.add_argument("--store", type=Path, help="part 1: a real store instead of synthetic data")
    parser.add_argument("--batch-size", type=int, default=128, help="part 1 on CPU")
    parser.add_argument("--mnist", default="../shared/data/mnist", help="the MNIST IDX folder (part 2, --gpu)")
    parser.add_argument("--mnist-store", type=Path, help="its store (default stores/mnist; --smallest: a temporary one)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 2; --gpu 3)")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--no-keras", action="store_true", help="part 2 without the Keras-CNN loop")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's; --smallest: 1)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--json-out", type=Path, help="also write the JSON line to this file")
    parser.add_argument("--smallest", action="store_true",
                        help="the CI size: seconds, the same code; --gpu without CUDA runs on the CPU")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # LightningCLI inside build_cli would read the bench's own flags
    check_names(args)
    if args.smallest and not args.threads:
        args.threads = 1  # a shared CI machine: one thread per process measures the code, not the neighbours
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.gpu and not (args.smallest and not torch.cuda.is_available())
    args.device = args.device or ("cuda" if cuda else "cpu")
    args.rounds = args.rounds or (3 if args.gpu else 2)
    if args.quick:
        args.n, args.epochs, args.rounds = 3000, 3, 1
    if args.smallest:
        args.n, args.epochs, args.rounds, args.keras_max_epochs, args.no_warmup = 256, 2, 1, 1, True
        args.variants = args.variants.split(",")[0]
    parts = set(args.parts.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench_fit-"))
    out: dict = {"device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
                 "smallest": args.smallest}
    if args.device == "cuda":
        out["gpu"] = torch.cuda.get_device_name()
    args.dump = lambda o: args.json_out.write_text(json.dumps(o) + "\n") if args.json_out else None
    KERAS["trainer"]["max_epochs"] = args.keras_max_epochs
    needs_mnist = bool(parts & {"recipe", "variants"}) or (args.gpu and args.store is None and "overhead" in parts)
    mnist = mnist_store(args.mnist, args.mnist_store, work, smallest=args.smallest) if needs_mnist else None
    if "overhead" in parts:
        store = args.store or (mnist if args.gpu else synthetic_store(work / "synthetic", args.n))
        out.update(part_overhead(args, store, work))
        print(f"\n1. s/epoch, autolit.fit vs hand-written ({out['precision']}, batch {out['batch_size']}, "
              f"{out['epochs_timed']} epochs timed)")
        print(table([{"loop": "hand-written", "s/epoch": out["handwritten_s_per_epoch"]},
                     {"loop": "autolit.fit", "s/epoch": out["autolit_s_per_epoch"],
                      "ratio": out["autolit_vs_handwritten"]}]))
        args.dump(out)
    if "recipe" in parts:
        recipe = part_recipe(args, mnist, work)
        print(f"\n2. training seconds to >= {args.target:.0%} MNIST test (configs/mnist_fast.yaml)\n"
              + table(recipe["rows"]))
        out["recipe"] = recipe
        args.dump(out)
    if "variants" in parts:
        rows = part_variants(args, mnist, work, out)
        print("\n3. the recipe with one key changed (one fit each)\n" + table(rows))
    print(f"device={args.device} threads={out['threads']} torch={torch.__version__}")
    args.dump(out)
    print(json.dumps(out))
    return 0


def check_names(args) -> None:
    """Refuse an unknown part or variant before anything trains (a typo must not cost a GPU run)."""
    for key, given, valid in (("--parts", args.parts, ("overhead", "recipe", "variants")),
                              ("--variants", args.variants, tuple(VARIANTS))):
        unknown = [name for name in given.split(",") if name not in valid]
        if unknown:
            raise UserError(f"{key}: unknown {', '.join(unknown)}; valid: {', '.join(valid)}")


if __name__ == "__main__":
    run_cli(main)
