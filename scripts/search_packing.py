"""GPU packing, part 4 of ``scripts/bench_search.py --gpu``: tiny CNN trials, K workers on one GPU.

    python scripts/bench_search.py --gpu --per-device 1,2,4,8 --pack-trials 12 [--pack-extra mps,threads,alloc]
    python scripts/bench_search.py --gpu --smallest         # without CUDA: the same code on CPU workers (CI)

Every run is the real driver (``run_search``: spawned workers, a journal file) over the same trials
(random sampler seeded per trial number, no pruning): 1 epoch of a small mnist_fast-style CNN whose
widths and learning rate are searched, bf16, MNIST on the device. Small CNNs leave a GPU mostly idle
(launch- and Python-bound), so K processes on one GPU should raise trials/hour; target K=4 >= 3x K=1.

Reported per run: trials/hour over the steady window (first trial start to last trial end; worker
start-up excluded) and over the whole wall time, GPU memory per worker (NVML per process, else
torch's peak reservation per trial) and mean GPU utilisation (NVML or nvidia-smi, sampled every
0.25 s). ``--pack-extra`` tries what may pack better when processes fall short:

* ``mps``: the CUDA MPS control daemon (private pipe folder; stopped afterwards), K = max;
* ``alloc``: a smaller caching allocator per worker (``PYTORCH_CUDA_ALLOC_CONF``), K = max;
* ``threads``: one process running K trials at once in threads (``study.optimize(n_jobs=K)``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_sampler import GpuSampler  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ALLOC_CONF = "expandable_segments:True,garbage_collection_threshold:0.6"
SPACE = {
    "lr_scheduler.init_args.max_lr": {"type": "float", "low": 0.005, "high": 0.03, "log": True},
    "model.layers": [
        {"Conv2d": {"out_channels": {"type": "int", "low": 8, "high": 32, "step": 8}, "kernel_size": 5,
                    "bias": False}},
        {"MaxPool2d": {"kernel_size": 2}}, {"BatchNorm2d": {}}, {"ReLU": {}},
        {"Conv2d": {"out_channels": {"type": "int", "low": 16, "high": 32, "step": 8}, "kernel_size": 3,
                    "bias": False}},
        {"MaxPool2d": {"kernel_size": 2}}, {"BatchNorm2d": {}}, {"ReLU": {}},
        {"Flatten": {}},
        {"Linear": {"out_features": {"type": "int", "low": 32, "high": 128, "log": True}}}, {"ReLU": {}},
        {"Linear": {"out_features": "n_labels"}},
    ],
}


def write_search_config(tmp: Path, store: Path, *, accelerator: str) -> Path:
    """configs/mnist_fast.yaml as the base (1 epoch, ``store``), the tiny CNN space above."""
    fit = yaml.safe_load((REPO / "configs" / "mnist_fast.yaml").read_text())
    fit["data"].update(store=str(Path(store).resolve()), source=None)
    fit["trainer"].update(max_epochs=1)
    if accelerator == "cpu":  # the dry run: bf16 autocast and a big batch only slow a tiny CPU check
        fit["trainer"]["precision"], fit["data"]["batch_size"] = "32-true", 64
    (tmp / "fit.yaml").write_text(yaml.safe_dump(fit, sort_keys=False))
    search = {"fit_config": "fit.yaml", "space": SPACE,
              "study": {"name": "packing", "metric": "val/acc", "n_trials": 8, "seed": 0,
                        "sampler": {"type": "RandomSampler"}, "pruner": {"type": "NopPruner"}}}
    path = tmp / "search.yaml"
    path.write_text(yaml.safe_dump(search, sort_keys=False))
    return path


def packing_objective(cfg: Any, slot: Any, runs_dir: Path):
    """The real objective, also recording torch's peak GPU reservation per trial."""
    from autolit.search.run.objective import make_objective

    objective = make_objective(cfg, slot, runs_dir)

    def run(trial: Any) -> float:
        import torch

        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        try:
            return objective(trial)
        finally:
            if cuda:
                trial.set_user_attr("gpu_peak_reserved_mb", round(torch.cuda.max_memory_reserved() / 2**20, 1))

    return run


@contextmanager
def environ(extra: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the workers spawned inside (they copy the environment)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def rates(trials: list, wall: float) -> dict:
    """Trials/hour over the steady window (first start to last end) and over the wall time."""
    done = [t for t in trials if t.datetime_complete is not None]
    if not done:
        return {"trials": 0, "wall_s": round(wall, 1), "trials_per_hour": 0.0, "trials_per_hour_wall": 0.0}
    window = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    states = [t.state.name for t in done]
    peaks = [t.user_attrs["gpu_peak_reserved_mb"] for t in done if "gpu_peak_reserved_mb" in t.user_attrs]
    return {"trials": len(done), "complete": states.count("COMPLETE"), "wall_s": round(wall, 1),
            "window_s": round(window, 1), "trials_per_hour": round(len(done) / window * 3600, 1),
            "trials_per_hour_wall": round(len(done) / wall * 3600, 1),
            "torch_peak_reserved_mb": round(statistics.median(peaks), 1) if peaks else None}


def run_driver(cfg_path: Path, name: str, k: int, n: int, tmp: Path, *, devices: str) -> dict:
    """One packing run with the real driver: K workers on ``devices``."""
    import optuna

    from autolit.search.config import load_search_config
    from autolit.search.run.devices import parse_devices
    from autolit.search.run.driver import SearchRun, run_search

    slots = parse_devices(devices, k) if devices != "cpu" else parse_devices(f"cpu:{k}")
    run = SearchRun(cfg=load_search_config(cfg_path), storage=str(tmp / f"{name}.log"), study_name=name,
                    n_trials=n, timeout=None, slots=slots, runs_dir=tmp / name)
    with GpuSampler() as sampler:
        start = time.perf_counter()
        study = run_search(run, packing_objective)
        wall = time.perf_counter() - start
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                      optuna.trial.TrialState.PRUNED))
    workers = {int(str(t.user_attrs.get("worker", ":0")).rsplit(":", 1)[-1]) for t in trials}
    return {"run": name, "workers": k, **rates(trials, wall), **sampler.summary(workers)}


def threaded_worker(cfg_path: str, storage: str, name: str, n: int, jobs: int, runs_dir: str, devices: str) -> None:
    """One process, ``jobs`` trials at a time in threads (Optuna's n_jobs), for ``--pack-extra threads``."""
    import inspect

    import optuna

    from autolit.training import run_fit
    from autolit.search.config import load_search_config
    from autolit.search.run.devices import parse_devices
    from autolit.search.run.objective import Objective
    from autolit.search.storage import open_storage
    from autolit.search.study import TrialFailed, make_sampler

    sys.argv = sys.argv[:1]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = load_search_config(cfg_path)
    slot = parse_devices(devices, 1)[0] if devices != "cpu" else parse_devices("cpu:1")[0]
    quiet = {"log_output": False} if "log_output" in inspect.signature(Objective).parameters else {}
    objective = Objective(cfg, slot, Path(runs_dir), fit=run_fit, **quiet)  # per-trial stdout redirection is process-wide
    study = optuna.load_study(study_name=name, storage=open_storage(storage),
                              sampler=make_sampler(cfg.study.sampler, seed=0, parallel=True))
    study.optimize(objective, n_trials=n, n_jobs=jobs, catch=(TrialFailed,))


def run_threads(cfg_path: Path, k: int, n: int, tmp: Path, devices: str) -> dict:
    import optuna

    from autolit.search.storage import open_storage

    name = f"threads{k}"
    storage = str(tmp / f"{name}.log")
    optuna.create_study(study_name=name, storage=open_storage(storage), direction="maximize")
    ctx = mp.get_context("spawn")
    with GpuSampler() as sampler, environ({"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0")}):
        start = time.perf_counter()
        proc = ctx.Process(target=threaded_worker, args=(str(cfg_path), storage, name, n, k, str(tmp / name), devices))
        proc.start()
        proc.join()
        wall = time.perf_counter() - start
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    trials = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    return {"run": name, "workers": f"1 process, {k} threads", **rates(trials, wall),
            **sampler.summary({proc.pid}), "exit": proc.exitcode}


def start_mps(tmp: Path) -> dict[str, str]:
    """Start an MPS control daemon on a private pipe folder; return the environment its clients need."""
    exe = shutil.which("nvidia-cuda-mps-control")
    if exe is None:
        raise RuntimeError("nvidia-cuda-mps-control is not on the PATH")
    base = Path(os.environ.get("AUTOLIT_MPS_DIR") or tmp)  # gpu_check.sh names it, to stop a daemon left behind
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(base / "mps-pipe"), "CUDA_MPS_LOG_DIRECTORY": str(base / "mps-log")}
    for folder in env.values():
        Path(folder).mkdir(parents=True, exist_ok=True)
    subprocess.run([exe, "-d"], env=os.environ | env, check=True, timeout=30, capture_output=True)
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.ones(8, device='cuda').sum().item())"],
                           env=os.environ | env, capture_output=True, text=True, timeout=45)
    if probe.returncode != 0:
        stop_mps(env)
        raise RuntimeError(f"a CUDA client under MPS failed: {probe.stderr.strip()[-300:]}")
    return env


def stop_mps(env: dict[str, str]) -> None:
    exe = shutil.which("nvidia-cuda-mps-control")
    if exe:
        subprocess.run([exe], input="quit\n", text=True, env=os.environ | env, timeout=30, capture_output=True)


def warm_store(store: Path) -> None:
    """Build the decoded cache and the channel statistics once, so no run pays for them."""
    from autolit.datamodules import StoreDataModule
    from autolit.datamodules import cache as decoded_cache

    data = StoreDataModule(store=str(store))
    decoded_cache.get_or_build(data.reader, data.image_size, data.channels)
    data.mean_std  # noqa: B018 - computed and cached in the store


def packing(store: Path, tmp: Path, per_device: list[int], n: int, extra: list[str], *, cpu: bool = False,
            progress: Any = None) -> dict:
    """Part 4: every K of ``per_device``, then the ``extra`` ways to pack; rows and the K=4/K=1 ratio.

    ``progress(rows)`` is called after every run (the bench rewrites its JSON file there).
    """
    cfg_path = write_search_config(tmp, store, accelerator="cpu" if cpu else "gpu")
    devices = "cpu" if cpu else "0"
    warm_store(store)
    rows: list[dict] = []
    report = progress or (lambda rows: None)
    for k in per_device:
        rows.append(run_driver(cfg_path, f"k{k}", k, n, tmp, devices=devices))
        report(rows)
    top = max(per_device)
    for how in extra:
        try:
            if how == "mps":
                env = start_mps(tmp)
                try:
                    with environ(env):
                        rows.append(run_driver(cfg_path, f"mps{top}", top, n, tmp, devices=devices) | {"run": f"mps k{top}"})
                finally:
                    stop_mps(env)
            elif how == "alloc":
                with environ({"PYTORCH_CUDA_ALLOC_CONF": ALLOC_CONF}):
                    rows.append(run_driver(cfg_path, f"alloc{top}", top, n, tmp, devices=devices) | {"run": f"alloc k{top}"})
            elif how == "threads":
                rows.append(run_threads(cfg_path, top, n, tmp, devices))
            else:
                rows.append({"run": how, "error": "unknown --pack-extra (mps, alloc, threads)"})
        except Exception as exc:  # noqa: BLE001 - report what could not be tried, keep the others
            rows.append({"run": how, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        report(rows)
    by_k = {r["workers"]: r["trials_per_hour"] for r in rows if isinstance(r.get("workers"), int) and r["run"].startswith("k")}
    out = {"rows": rows, "trials_per_hour": {str(k): v for k, v in by_k.items()}}
    if 1 in by_k and 4 in by_k and by_k[1]:
        out["k4_vs_k1"] = round(by_k[4] / by_k[1], 2)
    return out
