"""Images per second served to a training loop: torchvision ImageFolder vs the store vs the decoded cache.

    python scripts/bench_data.py [--quick] [--data ../shared/data/hymenoptera_data/train]
                                 [--size 64] [--workers 2] [--batch-size 64] [--encode auto|JPEG|PNG]
    python scripts/bench_data.py --smallest     # CI: 20 photos per label, 1 worker, ~0.2 s per loader

Three loaders over the same photos, at the same image size, batch size and worker count, in this one
script run:

* ``imagefolder``: the baseline people write, ``torchvision.datasets.ImageFolder`` over the JPEG
  files with ``Resize(size) + CenterCrop(size) + PILToTensor()`` (uint8, so nobody pays for floats);
* ``store``: ``StoreDataModule(cache="none")`` over a store imported from the same folder (decoded
  from LMDB in the loader workers: photos kept at a 256 px long side, JPEG decoded in draft mode);
* ``cache``: ``StoreDataModule(cache="decoded")``, the memory-mapped uint8 cache every later run
  and every trial of a study reads (built once, before timing); without augmentations its batches
  are sliced in the training process, so the workers setting does not apply;
* ``cache+flip``: the same cache with a ``RandomHorizontalFlip`` augmentation, which runs per image
  in the loader workers (shown for scale; not part of the targets).

Each loader runs one warm-up epoch (worker start, OS page cache), then whole epochs until
``--seconds`` have passed; persistent workers, so worker start-up is not counted. The last line
is JSON with ``store_vs_imagefolder`` and ``cache_vs_imagefolder`` (throughput ratios; targets
>= 5 and >= 50).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

from autolit.datamodules import StoreDataModule
from autolit.store import ImagePolicy
from autolit.store.importers import import_folder

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hymenoptera_data" / "train"


def throughput(make_loader, seconds: float) -> tuple[float, int]:
    """(images/s over whole epochs after one warm-up epoch, epochs timed).

    The loader's persistent workers are shut down before the next loader forks its own (a forked
    worker must not inherit another loader's worker handles).
    """
    loader = make_loader()
    try:
        return _timed_epochs(loader, seconds)
    finally:
        del loader
        gc.collect()


def _timed_epochs(loader, seconds: float) -> tuple[float, int]:
    for _ in loader:  # warm-up: workers start, files enter the page cache
        pass
    images, epochs, start = 0, 0, time.perf_counter()
    while True:
        for x, _ in loader:
            images += len(x)
        epochs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return images / elapsed, epochs


def imagefolder_loader(folder: Path, args) -> DataLoader:
    transform = v2.Compose([v2.Resize(args.size, antialias=True), v2.CenterCrop(args.size), v2.PILToTensor()])
    dataset = datasets.ImageFolder(str(folder), transform=transform)
    return DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                      persistent_workers=args.workers > 0)


def store_loader(store: Path, cache: str, args, augment: list | None = None):
    dm = StoreDataModule(str(store), image_size=args.size, channels=3, batch_size=args.batch_size,
                         num_workers=args.workers, cache=cache, persistent_workers=True, augment=augment)
    dm.prepare_data()  # builds the decoded cache when cache="decoded" (not timed)
    dm.setup("fit")
    return dm.train_dataloader()


def smallest_folder(data: Path, dest: Path, per_label: int = 20) -> Path:
    """A copy of the first ``per_label`` photos of each label folder of ``data`` (``--smallest``)."""
    for label in sorted(d for d in data.iterdir() if d.is_dir()):
        (dest / label.name).mkdir(parents=True)
        for photo in sorted(p for p in label.iterdir() if p.is_file())[:per_label]:
            shutil.copy(photo, dest / label.name / photo.name)
    return dest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a folder of <label>/<image> photos")
    p.add_argument("--quick", action="store_true", help="~2 s per loader instead of ~8 s")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--encode", choices=("auto", "JPEG", "PNG"), default="auto",
                   help="how the store keeps the photos (auto, the default policy: JPEG for JPEG files)")
    p.add_argument("--store", type=Path, help="reuse (or create) the store here instead of a temporary one")
    p.add_argument("--smallest", action="store_true",
                   help="the CI size: the first 20 photos per label of --data, 1 worker, ~0.2 s per loader")
    args = p.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"error: {args.data} is not a folder; pass --data DIR (one subfolder per label)")
    seconds = 0.2 if args.smallest else 2.0 if args.quick else 8.0
    if args.smallest:
        args.workers, args.batch_size = 1, 8
    torch.set_num_threads(1)  # the loaders' workers have the cores; the main process only iterates

    with tempfile.TemporaryDirectory() as tmp:
        if args.smallest:
            args.data = smallest_folder(args.data, Path(tmp) / "photos")
        store = args.store or Path(tmp) / "store"
        report = import_folder(args.data, store, policy=ImagePolicy(encode=args.encode))
        rows = {}
        rows["imagefolder"] = throughput(lambda: imagefolder_loader(args.data, args), seconds)
        rows["store"] = throughput(lambda: store_loader(store, "none", args), seconds)
        rows["cache"] = throughput(lambda: store_loader(store, "decoded", args), seconds)
        flip = [{"RandomHorizontalFlip": {"p": 0.5}}]
        rows["cache+flip"] = throughput(lambda: store_loader(store, "decoded", args, flip), seconds)

    base = rows["imagefolder"][0]
    print(f"data: {args.data} ({report.count} photos in the store, {args.encode}); size {args.size} px, "
          f"batch {args.batch_size}, {args.workers} workers; {platform.machine()}, "
          f"{torch.get_num_threads()} main-process threads")
    print(f"{'loader':<12} {'images/s':>12} {'epochs':>7} {'vs imagefolder':>15}")
    for name, (rate, epochs) in rows.items():
        print(f"{name:<12} {rate:>12,.0f} {epochs:>7} {rate / base:>14.1f}x")
    print(json.dumps({"store_vs_imagefolder": round(rows["store"][0] / base, 2),
                      "cache_vs_imagefolder": round(rows["cache"][0] / base, 2),
                      "images_per_s": {k: round(v[0], 1) for k, v in rows.items()}, "photos": report.count,
                      "size": args.size, "workers": args.workers, "batch_size": args.batch_size,
                      "encode": args.encode, "quick": args.quick,
                      "smallest": args.smallest}))


if __name__ == "__main__":
    main()
