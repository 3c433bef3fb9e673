"""Latency and throughput of autolit.predict on CPU: ONNX Runtime and TorchScript vs eager PyTorch.

    python scripts/bench_predict.py [--quick] [--threads 1] [--mnist-store PATH] [--seconds 1.5] [--rounds 5]
    python scripts/bench_predict.py --smallest    # CI: 5 training batches each, 1 round of 0.05 s, 16 files

Trains two models briefly (the digits default ``configs/digits.yaml`` and ``configs/mnist.yaml``
on a store imported from ``../shared/data/mnist``, or ``--mnist-store``), exports each with
``autolit.export`` (TorchScript + ONNX, verified), then measures, alternating the runtimes in
rounds so none gets a quieter machine:

- *model call*: the exported file on a preprocessed float32 batch (batch 1 and 64): median
  latency per call and images/s;
- *predict*: ``ExportedModel.predict`` over PNG files of the store's test images (read, decode,
  resize, normalise, run, top-3), images/s at ``--batch-size`` 1 and 64.

The baseline is the checkpoint's own network rebuilt in eager PyTorch (``AutoLitModule`` forward
+ softmax under ``inference_mode``) on the same batch, and for *predict* the same pipeline with
that eager model swapped in. Ratios are images/s over the baseline's (> 1: faster). Training
length does not change the timings; it only makes the models real. Last line: JSON of the figures.

Every runtime gets ``--threads`` intra-op threads (default 1). On a 2-core machine that other
work shares, 2-thread PyTorch calls become bimodal (~0.02 ms or ~16 ms: one of the two OpenMP
threads waits out a scheduler slice), which measures the neighbours rather than the runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist_subset import mnist_store  # noqa: E402

from autolit.deploy import ExportedModel, export_checkpoint
from autolit.modules.checkpoint import load_checkpoint, rebuild_model
from autolit.deploy.inputs import Source
from autolit.deploy.runtime import load_runtime
from autolit.training import run_fit
from autolit.store import StoreReader

REPO = Path(__file__).resolve().parents[1]
RUNTIMES = ("eager", "onnx", "torchscript")
BATCHES = (1, 64)


class EagerRuntime:
    """The baseline: the checkpoint's network in eager PyTorch, numpy in and out like the runtimes."""

    name = "eager"

    def __init__(self, ckpt_path: Path) -> None:
        self.model = rebuild_model(load_checkpoint(ckpt_path), ckpt_path)
        self.path = ckpt_path

    def run(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(self.model(torch.from_numpy(x)), dim=-1).numpy()


def train_and_export(name: str, config_file: str, overrides: dict, store: Path, work: Path) -> Path:
    """Fit ``config_file`` with ``overrides`` on ``store``; export to ``work/<name>/export``."""
    config = yaml.safe_load((REPO / config_file).read_text())
    config["trainer"].update({"accelerator": "cpu", "enable_model_summary": False, **overrides})
    if config.get("lr_scheduler", {}).get("init_args", {}).get("T_max"):
        config["lr_scheduler"]["init_args"]["T_max"] = overrides["max_epochs"]
    config["data"]["store"] = str(store)
    if config["data"]["source"].startswith("idx:"):  # main built the store already (mnist_store, from --mnist)
        config["data"]["source"] = None
    start = time.perf_counter()
    result = run_fit(config, run_dir=work / name / "run", progress=False)
    print(f"{name}: trained in {time.perf_counter() - start:.0f} s, test/acc "
          f"{float(result.metrics.get('test/acc', float('nan'))):.4f}", flush=True)
    report = export_checkpoint(result.best_checkpoint, work / name / "export")
    print(report.render(), flush=True)
    return report.out_dir


def write_pngs(store: Path, folder: Path, n: int) -> list[Source]:
    """The first ``n`` test images of ``store`` as PNG files (their stored bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    reader = StoreReader(store)
    try:
        sources = []
        for i, key in enumerate(reader.keys("test")[:n]):
            path = folder / f"{i:05d}.png"
            path.write_bytes(reader.read(key)[0])
            sources.append(Source(str(path), "file"))
    finally:
        reader.close()
    return sources


def timed(fn: Callable[[], int], seconds: float, min_calls: int = 3) -> tuple[float, float]:
    """Call ``fn`` (returns images done) for ~``seconds``: (median seconds per call, images/s)."""
    fn()  # warm-up (first-call allocations, lazy init)
    calls, images, start = [], 0, time.perf_counter()
    while time.perf_counter() - start < seconds or len(calls) < min_calls:
        t0 = time.perf_counter()
        images += fn()
        calls.append(time.perf_counter() - t0)
    return statistics.median(calls), images / (time.perf_counter() - start)


def bench_model(export_dir: Path, store: Path, work: Path, args: argparse.Namespace) -> list[dict]:
    """Rows (runtime, batch, latency, images/s, predict images/s), medians over alternating rounds."""
    meta = json.loads((export_dir / "metadata.json").read_text())
    runtimes = {"eager": EagerRuntime(Path(meta["checkpoint"])),
                "onnx": load_runtime(export_dir, "onnx", threads=args.threads),
                "torchscript": load_runtime(export_dir, "torchscript", threads=args.threads)}
    model = ExportedModel(export_dir, "onnx", threads=args.threads)
    sources = write_pngs(store, work / "pngs", args.files)
    images = np.stack([model.pre.decode(Path(s.name).read_bytes()) for s in sources])
    x = model.pre.normalize(images)  # the same preprocessed batch for every runtime
    samples: dict[tuple[str, int, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, runtime in runtimes.items():
            model.runtime = runtime  # the same predict pipeline, this runtime inside
            for batch in BATCHES:
                xb = x[:batch]
                latency, ips = timed(lambda: len(runtime.run(xb)), args.seconds / 2)
                _, predict_ips = timed(lambda: sum(1 for _ in model.predict(sources, batch_size=batch)),
                                       args.seconds, min_calls=1)
                for key, value in (("latency_ms", latency * 1e3), ("images_per_s", ips),
                                   ("predict_images_per_s", predict_ips)):
                    samples.setdefault((name, batch, key), []).append(value)
    rows = []
    for name in runtimes:
        for batch in BATCHES:
            row = {"runtime": name, "batch": batch}
            row.update({k: statistics.median(samples[(name, batch, k)])
                        for k in ("latency_ms", "images_per_s", "predict_images_per_s")})
            base = {k: statistics.median(samples[("eager", batch, k)])
                    for k in ("images_per_s", "predict_images_per_s")}
            row["x_eager"] = row["images_per_s"] / base["images_per_s"]
            row["predict_x_eager"] = row["predict_images_per_s"] / base["predict_images_per_s"]
            rows.append(row)
    return rows


def print_table(results: dict[str, list[dict]]) -> None:
    head = (f"{'model':<8}{'runtime':<13}{'batch':>6}{'latency ms':>12}{'images/s':>11}{'x eager':>9}"
            f"{'predict img/s':>15}{'x eager':>9}")
    print("\nmodel call = exported file on a preprocessed batch; predict = files -> decode -> run -> top-3")
    print(head)
    print("-" * len(head))
    for model, rows in results.items():
        for r in rows:
            print(f"{model:<8}{r['runtime']:<13}{r['batch']:>6}{r['latency_ms']:>12.3f}{r['images_per_s']:>11.0f}"
                  f"{r['x_eager']:>9.2f}{r['predict_images_per_s']:>15.0f}{r['predict_x_eager']:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter training and timings (~2 min)")
    parser.add_argument("--mnist-store", type=Path, help="an MNIST store to reuse (default: import one here)")
    parser.add_argument("--mnist", type=Path, help="the MNIST IDX folder (default: configs/mnist.yaml's source)")
    parser.add_argument("--seconds", type=float, default=1.5, help="timing per runtime, batch and round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds over the runtimes")
    parser.add_argument("--files", type=int, default=512, help="PNG files per predict pass")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for every runtime")
    parser.add_argument("--smallest", action="store_true", help="the CI size: seconds, the same code (MNIST: "
                        "its first 2,000 + 200 images, scripts/mnist_subset.py, unless --mnist-store is given)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.files = 0.5, 2, 128
    if args.smallest:
        args.seconds, args.rounds, args.files = 0.05, 1, 16
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench_predict-"))
    digits_store = work / "digits_store"
    mnist = args.mnist or REPO / yaml.safe_load((REPO / "configs" / "mnist.yaml").read_text())["data"]["source"][4:]
    mnist = mnist_store(mnist.resolve(), args.mnist_store or (None if args.smallest else work / "mnist_store"),
                        work, smallest=args.smallest)
    batches = 5 if args.smallest else 30 if args.quick else 200
    exports = {
        "digits": train_and_export("digits", "configs/digits.yaml",
                                   {"max_epochs": 1 if args.quick or args.smallest else 3}
                                   | ({"limit_train_batches": batches} if args.smallest else {}), digits_store, work),
        "mnist": train_and_export("mnist", "configs/mnist.yaml",
                                  {"max_epochs": 1, "limit_train_batches": batches,
                                   "limit_val_batches": 2 if args.smallest else 20}, mnist, work),
    }
    stores = {"digits": digits_store, "mnist": mnist}
    results = {name: bench_model(path, stores[name], work / name, args) for name, path in exports.items()}
    print_table(results)
    import onnxruntime

    threads = {"threads": args.threads, "cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2)}
    print(f"CPU: {threads}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"files per predict pass {args.files}, work dir {work}")
    figures = {name: [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
               for name, rows in results.items()}
    print(json.dumps({"quick": args.quick, "smallest": args.smallest, **threads, "results": figures}))


if __name__ == "__main__":
    main()
