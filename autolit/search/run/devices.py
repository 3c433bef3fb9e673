"""Device slots: one worker process per slot.

``auto`` means every visible GPU (else one CPU worker); ``cpu:N`` means N CPU workers sharing the
cores; ``0,1`` names GPUs. ``--per-device K`` packs K workers on each GPU (small models are
launch-bound, so packing raises trials/hour). Each worker sees only its own GPU: the parent sets
``CUDA_VISIBLE_DEVICES`` in the environment the child is started with, before it imports torch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from autolit.errors import UserError
from autolit.system import usable_cpus

MAX_WORKERS = 64  # each worker is a process with its own torch (~1 GB of RAM): more is a typo



@dataclass(frozen=True)
class Slot:
    """Where one worker runs."""

    index: int
    accelerator: str          # "cpu" | "gpu"
    gpu: int | None = None    # physical GPU id for "gpu"
    threads: int = 1          # torch intra-op threads
    env: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short name for logs: ``cpu#1`` or ``gpu0#1``."""
        return f"cpu#{self.index}" if self.gpu is None else f"gpu{self.gpu}#{self.index}"


def gpu_count() -> int:
    """Visible GPUs, without creating a CUDA context in this (parent) process."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines())


def parse_devices(spec: str, per_device: int = 1, *, gpus: int | None = None,
                  cores: int | None = None) -> list[Slot]:
    """Turn ``--devices``/``--per-device`` into worker slots."""
    if not 1 <= per_device <= MAX_WORKERS:
        raise UserError(f"--per-device {per_device}: give 1 to {MAX_WORKERS} workers per GPU")
    cores = usable_cpus() if cores is None else cores
    spec = spec.strip()
    if spec == "auto":
        gpus = gpu_count() if gpus is None else gpus
        return gpu_slots(list(range(gpus)), per_device, cores) if gpus else cpu_slots(1, cores)
    if spec.startswith("cpu"):
        count = spec[4:] if spec.startswith("cpu:") else ("1" if spec == "cpu" else "")
        if not count.isdigit() or not 1 <= int(count) <= MAX_WORKERS:
            raise UserError(f"--devices {spec}: write cpu:N with 1 <= N <= {MAX_WORKERS} workers, e.g. cpu:2")
        return cpu_slots(int(count), cores)
    ids = [part.strip() for part in spec.split(",")]
    if not all(part.isdigit() for part in ids):
        raise UserError(f"--devices {spec}: use auto, cpu:N or GPU ids like 0,1")
    if len(set(ids)) != len(ids):
        raise UserError(f"--devices {spec}: a GPU is listed twice; use --per-device K to run K workers on one GPU")
    _check_visible([int(i) for i in ids], spec, gpu_count() if gpus is None else gpus)
    if len(ids) * per_device > MAX_WORKERS:
        raise UserError(f"--devices {spec} --per-device {per_device}: {len(ids) * per_device} workers; "
                        f"at most {MAX_WORKERS}: lower --per-device")
    return gpu_slots([int(i) for i in ids], per_device, cores)


def _check_visible(ids: list[int], spec: str, visible: int) -> None:
    """Stop before any trial when a listed GPU is not there (every trial would fail on it)."""
    missing = [i for i in ids if i >= visible]
    if not missing:
        return
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f" (CUDA_VISIBLE_DEVICES={env!r})" if env is not None else ""
    seen = f"{visible} GPU(s), ids 0..{visible - 1}" if visible else "no GPU"
    raise UserError(f"--devices {spec}: GPU {', '.join(map(str, missing))} is not visible: this machine shows "
                    f"{seen}{where}; use --devices auto, cpu:N or the ids of visible GPUs")


def cpu_slots(n: int, cores: int) -> list[Slot]:
    """N CPU workers, each with cores/N threads, GPUs hidden."""
    threads = max(1, cores // n)
    env = {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return [Slot(index=i, accelerator="cpu", threads=threads, env=env) for i in range(n)]


def gpu_slots(ids: list[int], per_device: int, cores: int) -> list[Slot]:
    """K workers per listed GPU, each seeing only that GPU."""
    n = len(ids) * per_device
    threads = max(1, cores // n)
    # ids index the GPUs this process sees; map them through an inherited CUDA_VISIBLE_DEVICES.
    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    slots = []
    for gpu in ids:
        physical = visible[gpu] if gpu < len(visible) else str(gpu)
        for _ in range(per_device):
            env = {"CUDA_VISIBLE_DEVICES": physical, "OMP_NUM_THREADS": str(threads)}
            slots.append(Slot(index=len(slots), accelerator="gpu", gpu=gpu, threads=threads, env=env))
    return slots
