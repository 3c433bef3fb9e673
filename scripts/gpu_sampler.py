"""GPU utilisation and per-process GPU memory, sampled in a thread while a benchmark runs.

NVML (``pynvml``, from nvidia-ml-py) when it loads, else ``nvidia-smi`` queries; with neither (a CPU
machine) the summary is empty. Used by ``scripts/search_packing.py``; on its own it samples the GPU
while something else runs on it:

    python scripts/gpu_sampler.py [--seconds 30]
    python scripts/gpu_sampler.py --smallest      # CI: 1 s (on a CPU machine: backend none, no samples)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import threading
import time


class GpuSampler:
    """Samples GPU utilisation and per-process memory every ``period`` s (NVML, else nvidia-smi)."""

    def __init__(self, period: float = 0.25) -> None:
        self.period, self.util, self.used_mb, self.per_pid = period, [], [], {}
        self._stop = threading.Event()
        nvml = self._nvml()
        self._read = nvml or self._smi()
        self.backend = "nvml" if nvml else "nvidia-smi" if self._read else "none"

    def _nvml(self):
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # noqa: BLE001 - no NVML: fall back to nvidia-smi
            return None

        def read() -> tuple[float, float, dict[int, float]]:
            procs = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
            return (float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                    pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20,
                    {p.pid: (p.usedGpuMemory or 0) / 2**20 for p in procs})
        return read

    def _smi(self):
        if shutil.which("nvidia-smi") is None:
            return None

        def query(what: str, *fields: str) -> list[list[str]]:
            out = subprocess.run(["nvidia-smi", f"--query-{what}={','.join(fields)}", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout
            return [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]

        def read() -> tuple[float, float, dict[int, float]]:
            (util, used), *_ = query("gpu", "utilization.gpu", "memory.used")
            procs = {int(p): float(m) for p, m in query("compute-apps", "pid", "used_memory") if p.isdigit()}
            return float(util), float(used), procs
        return read

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                util, used, procs = self._read()
            except Exception:  # noqa: BLE001 - a missed sample is not worth stopping the bench
                continue
            self.util.append(util)
            self.used_mb.append(used)
            for pid, mb in procs.items():
                self.per_pid[pid] = max(mb, self.per_pid.get(pid, 0.0))

    def __enter__(self) -> "GpuSampler":
        if self._read is not None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._read is not None:
            self._thread.join(5)

    def summary(self, workers: set[int]) -> dict:
        mine = [mb for pid, mb in self.per_pid.items() if pid in workers] or list(self.per_pid.values())
        return {"gpu_util_mean_pct": round(statistics.mean(self.util), 1) if self.util else None,
                "gpu_mem_per_worker_mb": round(statistics.median(mine), 1) if mine else None,
                "gpu_mem_used_peak_mb": round(max(self.used_mb), 1) if self.used_mb else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to sample")
    parser.add_argument("--smallest", action="store_true", help="the CI size: 1 s")
    args = parser.parse_args()
    seconds = 1.0 if args.smallest else args.seconds
    with GpuSampler() as sampler:
        time.sleep(seconds)
    out = {"backend": sampler.backend, "seconds": seconds, "samples": len(sampler.util), **sampler.summary(set())}
    print(f"{'backend':<12} {'samples':>7} {'util %':>7} {'peak MiB':>9}\n{out['backend']:<12} {out['samples']:>7} "
          f"{out['gpu_util_mean_pct']!s:>7} {out['gpu_mem_used_peak_mb']!s:>9}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
