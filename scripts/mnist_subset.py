"""Write the first N train and test images of an MNIST IDX folder as a smaller IDX folder.

    python scripts/mnist_subset.py ../shared/data/mnist /tmp/mnist-small --train 3000 --test 1000

``scripts/gpu_check.sh --cpu`` runs every GPU check at small sizes on the CPU; this keeps its data
real (the same IDX import, the same digits) but a few seconds to train.
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

from autolit.errors import UserError, run_cli
from autolit.store.importers.idx import IMAGES_MAGIC, LABELS_MAGIC, PARTS, read_part


def write_idx(path: Path, array, magic: int) -> None:
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    for part, n in (("train", args.train), ("t10k", args.test)):
        found = read_part(args.source, part)
        if found is None:
            raise UserError(f"{args.source} has no {part} IDX files; pass the MNIST folder")
        images, labels, _ = found
        images_stem, labels_stem = PARTS[part]
        write_idx(args.dest / images_stem, images[:n], IMAGES_MAGIC)
        write_idx(args.dest / labels_stem, labels[:n], LABELS_MAGIC)
    print(f"wrote {args.dest}: {args.train} train, {args.test} test images")
    return 0


if __name__ == "__main__":
    run_cli(main)
