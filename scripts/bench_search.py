"""Benchmarks of the search driver on digits (CPU). Prints tables, then one JSON line.

    python scripts/bench_search.py            # full: 3 seeds x 240 device-s per method, 16 trials x 1|2 workers
    python scripts/bench_search.py --quick    # a few minutes: smaller budgets
    python scripts/bench_search.py --postgres postgresql://autolit:autolit@127.0.0.1:5432/autolit_test
    python scripts/bench_search.py --gpu --mnist .data/mnist   # part 4 only, on one GPU (scripts/search_packing.py)
    python scripts/bench_search.py --smallest [--gpu]   # CI: seconds, the same code (no CUDA: CPU workers)

1. TPE + Hyperband vs random search without pruning, equal device-second budget, >= 3 seeds:
   device-seconds until a completed trial reaches the target val/acc (sum of trial durations).
2. Trials/hour with 1 vs 2 worker processes (the real driver, journal storage, no pruning).
3. Storage time per trial (the storage calls one trial makes) as a share of the mean trial time.
4. Worker memory: RSS after 2 and after 20 small trials run in one process. With ``--gpu``: packing
   on one GPU instead: trials/hour of tiny CNN trials for ``--per-device 1,2,4,8`` (same trial
   count), GPU memory per worker, GPU utilisation, and ``--pack-extra mps,alloc,threads``.

``--smallest`` (what CI and ``scripts/gpu_check.sh --cpu`` run): trials of 1 epoch of 5 batches, 1
seed, a 1 s budget per method, 2 trials per throughput run, 2 in the memory part; with ``--gpu``: the
first of ``--per-device`` only, 1 trial, no ``--pack-extra``, MNIST cut to its first 2,000 + 200
images (``scripts/mnist_subset.py``) unless ``--mnist-store`` is given, on CPU workers where there
is no CUDA.
"""

from __future__ import annotations

import argparse
import copy
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

from autolit.search.config import base_fit_config, load_search_config
from autolit.search.run.devices import cpu_slots, parse_devices
from autolit.search.run.driver import SearchRun, run_search
from autolit.search.run.feasibility import data_info_for
from autolit.search.run.objective import Objective, make_objective
from autolit.search.storage import open_storage
from autolit.search.study import TrialFailed, make_pruner, make_sampler

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "search" / "digits.yaml"
#: trial overrides of the memory part and of --smallest: 1 epoch of 5 batches
SMALL_TRIAL = {"trainer.max_epochs": 1, "trainer.limit_train_batches": 5, "lr_scheduler.init_args.T_max": 1}


def _objective(cfg, runs: Path) -> Objective:
    from autolit.training import run_fit

    return Objective(cfg, cpu_slots(1, 2)[0], runs, fit=run_fit)


def _duration(t: optuna.trial.FrozenTrial) -> float:
    return (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else 0.0


def run_budget(cfg, method: str, seed: int, budget_s: float, target: float, runs: Path) -> dict:
    """Trials one after another until their durations sum to ``budget_s``."""
    if method == "tpe+hyperband":
        sampler = make_sampler(cfg.study.sampler, seed=seed, parallel=False)
        pruner = make_pruner(cfg.study.pruner)
    else:
        sampler, pruner = optuna.samplers.RandomSampler(seed=seed), optuna.pruners.NopPruner()
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner,
                                study_name=f"{method}-{seed}")
    objective, spent, reached = _objective(cfg, runs / f"{method}-{seed}"), 0.0, None
    while spent < budget_s:
        study.optimize(objective, n_trials=1, catch=(TrialFailed,))
        trial = study.trials[-1]
        spent += _duration(trial)
        if reached is None and trial.value is not None and trial.value >= target:
            reached = spent
    states = [t.state.name for t in study.trials]
    best = max((t.value for t in study.trials if t.value is not None), default=float("nan"))
    return {"method": method, "seed": seed, "trials": len(states), "pruned": states.count("PRUNED"),
            "best": best, "device_s": round(spent, 1), "to_target_s": None if reached is None else round(reached, 1)}


def throughput(cfg_path: Path, workers: int, n: int, tmp: Path, overrides: dict) -> dict:
    """Trials/hour of the real driver (spawned workers) with ``workers`` CPU workers.

    Random sampling without pruning, so both runs do the same kind of work.
    """
    raw = yaml.safe_load(cfg_path.read_text())
    raw["fit_config"] = str((cfg_path.parent / raw["fit_config"]).resolve())
    raw["overrides"] = overrides
    raw["study"].update(sampler={"type": "RandomSampler"}, pruner={"type": "NopPruner"})
    path = tmp / f"tp{workers}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = load_search_config(path)
    run = SearchRun(cfg=cfg, storage=str(tmp / f"tp{workers}.log"), study_name=f"tp{workers}", n_trials=n,
                    timeout=None, slots=parse_devices(f"cpu:{workers}"), runs_dir=tmp / f"tp{workers}")
    start = time.perf_counter()
    study = run_search(run, make_objective)
    wall = time.perf_counter() - start
    done = sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    return {"workers": workers, "trials": done, "wall_s": round(wall, 1), "trials_per_hour": round(done / wall * 3600, 1)}


def storage_cost(spec: str, n: int = 20) -> float:
    """Seconds of storage calls per trial: ask, 6 params, 6 attrs, 3 reports, tell."""
    study = optuna.create_study(study_name=f"bench-{time.time_ns()}", storage=open_storage(spec),
                                direction="maximize")
    start = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        for i in range(6):
            trial.suggest_float(f"p{i}", 1e-4, 1.0, log=True)
            trial.set_user_attr(f"a{i}", "x" * 40)
        for epoch in range(3):
            trial.report(0.5, epoch)
            trial.should_prune()
        study.tell(trial, 0.5)
    cost = (time.perf_counter() - start) / n
    optuna.delete_study(study_name=study.study_name, storage=study._storage)
    return cost


def memory(cfg, runs: Path, n: int) -> dict:
    """RSS of this process after each of ``n`` trials (the same loop a worker runs)."""
    def rss_mb() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    cfg = copy.deepcopy(cfg)  # small trials: 1 epoch of 5 batches
    cfg.overrides.update(SMALL_TRIAL)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    objective, rss = _objective(cfg, runs / "mem"), []
    for _ in range(n):
        study.optimize(objective, n_trials=1, catch=(TrialFailed,), gc_after_trial=True)
        rss.append(rss_mb())
    return {"trials": n, "rss_after_2_mb": round(rss[1], 1), "rss_after_n_mb": round(rss[-1], 1),
            "growth_pct": round(100 * (rss[-1] - rss[1]) / rss[1], 1)}


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    cells = [[str(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--target", type=float, default=0.99, help="val/acc a search must reach")
    p.add_argument("--postgres", help="also time a PostgreSQL storage at this URL")
    p.add_argument("--gpu", action="store_true", help="part 4 only: packing tiny trials on one GPU")
    p.add_argument("--per-device", default="1,2,4,8", help="--gpu: workers per GPU to compare")
    p.add_argument("--pack-trials", type=int, default=12, help="--gpu: trials per packing run")
    p.add_argument("--pack-extra", default="", help="--gpu: also try mps, alloc, threads (comma list)")
    p.add_argument("--mnist", default="../shared/data/mnist", help="--gpu: the MNIST IDX folder")
    p.add_argument("--mnist-store", type=Path, help="--gpu: its store (default stores/mnist; --smallest: temporary)")
    p.add_argument("--json-out", type=Path, help="also write the JSON line to this file")
    p.add_argument("--smallest", action="store_true",
                   help="the CI size: seconds, the same code; --gpu without CUDA runs CPU workers")
    args = p.parse_args()
    sys.argv = sys.argv[:1]  # LightningCLI inside run_fit would see the bench's own flags
    if args.gpu:
        gpu_packing(args)
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget, n_tp, n_mem = (90.0, 4, 20) if args.quick else (240.0, 16, 20)
    cfg = load_search_config(CONFIG)
    if args.smallest:
        budget, n_tp, n_mem, args.seeds = 1.0, 2, 2, 1
        cfg.overrides.update(SMALL_TRIAL)
    data_info_for(base_fit_config(cfg))  # build the digits store trials use once, outside every timing
    out: dict = {"quick": args.quick, "smallest": args.smallest, "target": args.target}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows = [run_budget(cfg, m, s, budget, args.target, tmp) for m in ("tpe+hyperband", "random")
                for s in range(args.seeds)]
        print(f"\n1. device-seconds to val/acc >= {args.target} (budget {budget:.0f} s per run)\n" + table(rows))
        for m in ("tpe+hyperband", "random"):
            reached = [r["to_target_s"] for r in rows if r["method"] == m and r["to_target_s"] is not None]
            out[m] = {"median_to_target_s": statistics.median(reached) if reached else None,
                      "reached": f"{len(reached)}/{args.seeds}",
                      "mean_best": round(statistics.mean(r["best"] for r in rows if r["method"] == m), 4)}
        tp = [throughput(CONFIG, w, n_tp, tmp, cfg.overrides) for w in (1, 2)]
        print("\n2. trials/hour, real driver\n" + table(tp))
        out["trials_per_hour"] = {str(r["workers"]): r["trials_per_hour"] for r in tp}
        mean_trial = statistics.mean(r["device_s"] / r["trials"] for r in rows)
        stores = {"journal": str(tmp / "bench.log")}
        if args.postgres:
            stores["postgresql"] = args.postgres
        costs = {k: storage_cost(v) for k, v in stores.items()}
        st = [{"storage": k, "s_per_trial": round(c, 4), "mean_trial_s": round(mean_trial, 2),
               "share_pct": round(100 * c / mean_trial, 3)} for k, c in costs.items()]
        print("\n3. storage time per trial\n" + table(st))
        out["storage_share_pct"] = {r["storage"]: r["share_pct"] for r in st}
        mem = memory(cfg, tmp, n_mem)
        print("\n4. worker RSS (one process, trials in a row)\n" + table([mem]))
        out["memory"] = mem
    print(json.dumps(out))


def gpu_packing(args) -> None:
    """Part 4 on a GPU (with ``--smallest`` and no CUDA: its code on CPU workers)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch
    from mnist_subset import mnist_store
    from search_packing import packing

    cpu = args.smallest and not torch.cuda.is_available()
    if args.smallest:
        args.per_device, args.pack_trials, args.pack_extra = args.per_device.split(",")[0], 1, ""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a time limit still stops workers and MPS
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = mnist_store(args.mnist, args.mnist_store, tmp, smallest=args.smallest)
        ks = [int(k) for k in args.per_device.split(",")]
        extra = [x for x in args.pack_extra.split(",") if x]
        dump = (lambda rows: args.json_out.write_text(json.dumps({"packing": {"rows": rows, "partial": True}}) + "\n")
                if args.json_out else None)
        out = packing(store, tmp, ks, args.pack_trials, extra, cpu=cpu, progress=dump)
    keys = ("run", "workers", "trials", "window_s", "trials_per_hour", "trials_per_hour_wall", "gpu_util_mean_pct",
            "gpu_mem_per_worker_mb", "torch_peak_reserved_mb", "error")
    rows = [{k: r.get(k, "") for k in keys} for r in out["rows"]]
    print("\n4. packing tiny CNN trials on one " + ("CPU (dry run)" if cpu else "GPU")
          + f" (same {args.pack_trials} trials per run)\n" + table(rows))
    line = json.dumps({"packing": out})
    if args.json_out:
        args.json_out.write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
