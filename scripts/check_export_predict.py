"""Does an export predict image files exactly as its checkpoint does? (export → predict, end to end)

    python scripts/check_export_predict.py CKPT ../shared/data/hymenoptera_data/val --out exports/hymenoptera_pretrained
    python scripts/check_export_predict.py --smallest   # CI: a digits model of 5 batches, 24 of its test images

Exports ``CKPT`` with ``python -m autolit.export --format torchscript,onnx --quantize int8``, runs
``python -m autolit.predict OUT FOLDER --json`` (ONNX Runtime) on every image file of ``FOLDER``
(``FOLDER/<label>/<image>``), and compares each file's top-1 with the checkpoint's own top-1 on the
same file (the PyTorch network rebuilt from the checkpoint, fed by the export's preprocessing.json,
i.e. the training rule). Prints the agreement, the accuracy of both against the folder labels and
the export's own check, then one JSON line. ``--smallest`` makes its own CKPT and FOLDER first: the
bundled digits config fit for 5 batches, and the first 24 test images of its store as PNG files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from autolit.modules.checkpoint import load_checkpoint, rebuild_model
from autolit.deploy.checkpoint import predictor
from autolit.deploy.inputs import expand
from autolit.deploy.preprocessing import Preprocessing


def _run(args: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return proc


def checkpoint_top1(ckpt: Path, pre: Preprocessing, files: list[Path]) -> dict[str, str]:
    """The checkpoint's label per file, by the export's preprocessing."""
    ckpt_data = load_checkpoint(ckpt)
    net = predictor(rebuild_model(ckpt_data, ckpt))
    names = list(ckpt_data["hyper_parameters"]["label_names"])
    out = {}
    with torch.inference_mode():
        for i in range(0, len(files), 32):
            chunk = files[i:i + 32]
            x = pre.normalize(np.stack([pre.decode(f.read_bytes()) for f in chunk]))  # (B, C, S, S)
            probs = net(torch.from_numpy(x)).numpy()
            top = net.task.top1(probs)
            out.update({str(f): names[int(k)] for f, k in zip(chunk, top)})
    return out


def smallest_inputs(work: Path, n: int = 24) -> tuple[Path, Path]:
    """(a checkpoint of configs/digits.yaml fit for 5 batches, FOLDER/<label>/<i>.png of its test images)."""
    from autolit.store import StoreReader
    from autolit.training import run_fit

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "digits.yaml").read_text())
    config["trainer"].update(max_epochs=1, limit_train_batches=5, accelerator="cpu", enable_model_summary=False)
    config["lr_scheduler"]["init_args"]["T_max"] = 1
    config["data"]["store"] = str(work / "digits")
    result = run_fit(config, run_dir=work / "run", progress=False)
    reader = StoreReader(work / "digits")
    try:
        for i, key in enumerate(reader.keys("test")[:n]):
            data, label = reader.read(key)
            path = work / "images" / reader.meta.labels[label] / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    finally:
        reader.close()
    return Path(result.best_checkpoint), work / "images"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path, nargs="?", help="the checkpoint to export (not with --smallest)")
    parser.add_argument("folder", type=Path, nargs="?", help="FOLDER/<label>/<image>")
    parser.add_argument("--out", type=Path, help="export folder to write (--smallest: a temporary one)")
    parser.add_argument("--smallest", action="store_true",
                        help="the CI size: export a 5-batch digits model, predict 24 of its test images")
    args = parser.parse_args()
    if args.smallest:
        work = Path(tempfile.mkdtemp(prefix="check_export_predict-"))
        args.checkpoint, args.folder = smallest_inputs(work)
        args.out = args.out or work / "export"
    elif args.checkpoint is None or args.folder is None or args.out is None:
        parser.error("CKPT, FOLDER and --out are required (or --smallest)")

    start = time.perf_counter()
    export = _run(["autolit.export", str(args.checkpoint), "--format", "torchscript,onnx", "--quantize", "int8",
                   "--out", str(args.out)])
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    predicted = {row["path"]: row.get("label") for row in map(json.loads, _run(
        ["autolit.predict", str(args.out), str(args.folder), "--json"]).stdout.splitlines())}
    predict_s = time.perf_counter() - start
    files = [Path(s.name) for s in expand([str(args.folder)]) if s.kind == "file"]
    reference = checkpoint_top1(args.checkpoint, Preprocessing.load(args.out), files)
    truth = {str(f): f.relative_to(args.folder).parts[0] for f in files}
    agree = sum(predicted.get(k) == v for k, v in reference.items())
    acc = {name: sum(d.get(k) == t for k, t in truth.items()) / len(truth) for name, d in
           (("export", predicted), ("checkpoint", reference))}
    print(export.stdout.strip())
    print(f"\n{len(files)} files of {args.folder}: export top-1 == checkpoint top-1 on {agree}/{len(files)}")
    print(f"accuracy vs folder labels: export {acc['export']:.4f}, checkpoint {acc['checkpoint']:.4f}")
    print(f"export {export_s:.1f} s, predict {predict_s:.1f} s ({len(files) / predict_s:.1f} files/s incl. start-up)")
    print(json.dumps({"files": len(files), "agree": agree, "export_acc": acc["export"],
                      "checkpoint_acc": acc["checkpoint"], "export_s": round(export_s, 1),
                      "predict_s": round(predict_s, 1)}))
    return 0 if agree == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())
