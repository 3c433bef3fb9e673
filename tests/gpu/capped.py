"""A worker objective with its CUDA memory capped, for the fault tests (imported by spawned workers).

``torch.cuda.set_per_process_memory_fraction`` makes the caching allocator refuse past the cap as
if the card were that small, so a spec that would fit in 139 GiB still runs out of memory. Each
trial records what the allocator held before and after it, to show the memory came back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CAP_BYTES = 1 << 30  # 1 GiB


def capped_objective(cfg: Any, slot: Any, runs_dir: Path):
    import torch

    from autolit.search.run.objective import make_objective

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, CAP_BYTES / total))
    objective = make_objective(cfg, slot, runs_dir)

    def run(trial):
        trial.set_user_attr("cuda_allocated_before", torch.cuda.memory_allocated())
        try:
            return objective(trial)
        finally:  # after the objective's own clean-up
            trial.set_user_attr("cuda_allocated_after", torch.cuda.memory_allocated())

    return run
