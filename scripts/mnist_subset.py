"""Write the first N train and test images of an MNIST IDX folder as a smaller IDX folder.

    python scripts/mnist_subset.py ../shared/data/mnist /tmp/mnist-small --train 3000 --test 1000
    python scripts/mnist_subset.py --smallest     # CI: 200 + 100 images of ../shared/data/mnist, read back

``scripts/gpu_check.sh --cpu`` and every ``--smallest`` MNIST benchmark train on such a subset:
the data stays real (the same IDX import, the same digits) but takes seconds to train.
``mnist_store`` is the one way the scripts build an MNIST store (through ``data.source``'s own
``ensure_store``), so an API change there breaks one function, which CI runs.
"""

from __future__ import annotations

import argparse
import json
import struct
import tempfile
from pathlib import Path

from autolit.errors import UserError, run_cli
from autolit.store.importers.idx import IMAGES_MAGIC, LABELS_MAGIC, PARTS, read_part

DEFAULT_MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
SMALLEST = (2000, 200)  # train, test images of the --smallest benchmarks (>= 8 one-cycle steps at batch 512)


def write_idx(path: Path, array, magic: int) -> None:
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def write_subset(source: Path, dest: Path, train: int, test: int) -> dict[str, int]:
    """The first ``train`` / ``test`` images of ``source`` as IDX files in ``dest``; images written per part."""
    dest.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, n in (("train", train), ("t10k", test)):
        found = read_part(source, part)
        if found is None:
            raise UserError(f"{source} has no {part} IDX files; pass the MNIST folder (train-*, t10k-*)")
        images, labels, _ = found
        images_stem, labels_stem = PARTS[part]
        write_idx(dest / images_stem, images[:n], IMAGES_MAGIC)
        write_idx(dest / labels_stem, labels[:n], LABELS_MAGIC)
        written[part] = len(images[:n])
    return written


def mnist_store(folder: str | Path, store: Path | None, work: Path, *, smallest: bool = False) -> Path:
    """The MNIST store a benchmark trains on, as ``data.source: idx:FOLDER`` makes it (built once).

    ``store`` when given, else ``stores/mnist``; with ``smallest`` and no ``store``: a store under
    ``work`` of the first ``SMALLEST`` images of ``folder`` (an IDX subset written beside it).
    """
    from autolit.datamodules.sources import ensure_store

    if store is None and smallest:
        store, small = work / "mnist", work / "mnist-idx"
        if not store.exists():
            write_subset(Path(folder), small, *SMALLEST)
        folder = small
    store = store or Path("stores/mnist")
    ensure_store(f"idx:{folder}", store)
    return store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, nargs="?", help=f"the MNIST IDX folder (default {DEFAULT_MNIST})")
    parser.add_argument("dest", type=Path, nargs="?", help="the folder to write (required unless --smallest)")
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--smallest", action="store_true",
                        help="the CI size: 200 + 100 images into a temporary folder, imported back into a store")
    args = parser.parse_args()
    source = args.source or DEFAULT_MNIST
    if args.smallest:
        args.train, args.test = 200, 100
    if args.dest is None and not args.smallest:
        raise UserError("dest: missing; pass the folder to write, e.g. /tmp/mnist-small (or --smallest)")
    with tempfile.TemporaryDirectory(prefix="mnist_subset-") as tmp:
        dest = args.dest or Path(tmp) / "mnist"
        written = write_subset(source, dest, args.train, args.test)
        print(f"wrote {dest}: {written['train']} train, {written['t10k']} test images")
        out: dict = {"dest": str(dest), **written, "bytes": sum(p.stat().st_size for p in dest.iterdir())}
        if args.smallest:  # read back through the importer the benchmarks use
            from autolit.store import StoreReader

            reader = StoreReader(mnist_store(dest, Path(tmp) / "store", Path(tmp)))
            out["store"] = {split: len(reader.keys(split)) for split in ("train", "val", "test")}
            reader.close()
    print(f"{'part':<6} {'images':>7}\n{'train':<6} {written['train']:>7}\n{'t10k':<6} {written['t10k']:>7}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    run_cli(main)
