"""Optional int8 dynamic quantisation of an export, with its size and accuracy cost.

Each format quantises its own way (see its module in ``formats/``): Linear / MatMul+Gemm weights
become int8, convolutions stay float, so small conv nets shrink less than MLPs. int8 outputs are
not held to the float tolerance; they are judged by the test-split score change reported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autolit.deploy import verify
from autolit.deploy.formats import EXPORTERS
from autolit.deploy.runtime import Runtime, load_runtime

METHOD = "dynamic int8 (Linear / MatMul+Gemm weights)"


def quantize_export(net: torch.nn.Module, out_dir: Path, runtimes: Sequence[Runtime], example: torch.Tensor,
                    inputs: verify.Inputs, reference: np.ndarray, test: dict[str, Any],
                    float_scores: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
    """Write the int8 twin of each float model in ``runtimes``; return sizes, score changes and
    agreements with the checkpoint's ``reference`` outputs on ``inputs`` (one pass per int8 model
    gives both). ``float_scores`` holds the float models' test-split scores by file name."""
    models: dict[str, Any] = {}
    agreements = []
    for float_rt in runtimes:
        fmt = EXPORTERS[float_rt.name]
        fmt.quantize(net, float_rt.path, example, out_dir / fmt.int8_file)
        int8_rt = load_runtime(out_dir, fmt.name, int8=True, threads=threads)
        outputs = inputs.outputs(int8_rt.run)
        agreements.append(verify.compare(reference, outputs, int8_rt.path.name, int8_rt.name, net.task,
                                         tolerance=None))
        row: dict[str, Any] = {"bytes": int8_rt.path.stat().st_size,
                               "float_bytes": float_rt.path.stat().st_size}
        row["size_ratio"] = round(row["bytes"] / row["float_bytes"], 3)
        if test:
            before = float_scores[float_rt.path.name]
            after = verify.score(outputs, test["y"], net.task)
            row.update({f"float_{k}": v for k, v in before.items()})
            row.update({f"int8_{k}": v for k, v in after.items()})
            row.update({f"delta_{k}": round(after[k] - before[k], 6) for k in before})
        models[int8_rt.path.name] = row
    return {"method": METHOD, "models": models, "agreements": agreements}
