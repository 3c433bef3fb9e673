"""The training service: fit and search jobs over HTTP, each run as its own process.

    python -m autolit.serve                                   # http://127.0.0.1:8000, jobs under serve/
    python -m autolit.serve --home serve --data-root stores --slots 2 --grace 60
    AUTOLIT_TOKEN=... python -m autolit.serve --host 0.0.0.0  # anything but loopback needs a token

``/docs`` shows the whole API; docs/serve.md walks through it with curl. The job table
(``<home>/jobs.sqlite``) is read and reconciled before anything is served: jobs a killed server
left running are marked ``interrupted`` (resume them).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import threading
from pathlib import Path

from autolit.errors import UserError, run_cli

LOOPBACK_NAMES = ("localhost",)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m autolit.serve", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--home", type=Path, default=Path("serve"), help="job table, job folders, logs (default serve/)")
    p.add_argument("--slots", type=int, help="jobs at once (default: one per GPU, else 1)")
    p.add_argument("--token", default=os.environ.get("AUTOLIT_TOKEN"),
                   help="bearer token every request must carry (default: $AUTOLIT_TOKEN)")
    p.add_argument("--data-root", type=Path, action="append", default=[], metavar="DIR",
                   help="a folder jobs may read (stores, image folders); repeat for more")
    p.add_argument("--allow-class", action="append", default=[], metavar="PREFIX",
                   help="also allow class_path values under this dotted prefix; repeat for more")
    p.add_argument("--grace", type=float, default=60.0, help="seconds a stopped job gets before SIGKILL (default 60)")
    p.add_argument("--max-files", type=int, default=64, help="images per predict request (default 64)")
    return p.parse_args(argv)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _gpus() -> int:
    """GPUs of this machine; torch is asked only where the NVIDIA driver shows some (it takes seconds)."""
    if not any(Path("/proc/driver/nvidia/gpus").glob("*")) and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        return 0
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no usable CUDA: CPU slots
        return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not is_loopback(args.host) and not args.token:
        raise UserError(f"--host {args.host}: binding anything but loopback needs a token; fix: set --token or "
                        "AUTOLIT_TOKEN, or bind 127.0.0.1")
    if args.slots is not None and args.slots < 1 or args.grace < 0 or args.max_files < 1:
        raise UserError("--slots and --max-files must be >= 1 and --grace >= 0")
    for root in args.data_root:
        if not root.is_dir():
            raise UserError(f"--data-root {root} is not a folder: give an existing folder jobs may read")
    import uvicorn

    from autolit.serve.admission import Roots
    from autolit.serve.app import JOBS_DIR, Service, create_app
    from autolit.serve.runner import Runner, make_slots, reconcile
    from autolit.serve.table import JobTable

    home = args.home.resolve()
    table = JobTable(home / "jobs.sqlite")
    interrupted = reconcile(table)  # before anything is served
    if interrupted:
        print(f"marked {len(interrupted)} job(s) a previous server left running as interrupted: {interrupted}",
              flush=True)
    # Jobs read and write under <home>/jobs only: the job table (and anything else of the server's
    # own in <home>) is outside what a job config may name, so no job can overwrite it.
    (home / JOBS_DIR).mkdir(parents=True, exist_ok=True)
    roots = Roots(home=home / JOBS_DIR, data_roots=tuple(r.resolve() for r in args.data_root),
                  allow_classes=tuple(args.allow_class))
    slots = make_slots(args.slots, _gpus())
    service = Service(table=table, runner=Runner(table, slots, args.grace), roots=roots, home=home,
                      token=args.token or None, max_files=args.max_files)
    threading.Thread(target=_warm_up, daemon=True).start()
    print(f"autolit serve: http://{args.host}:{args.port}/docs  home {home}  slots "
          f"[{', '.join(s.label for s in slots)}]", flush=True)
    uvicorn.run(create_app(service), host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=5)
    return 0


def _warm_up() -> None:
    """Import the fit's checks once now, so the first submission does not wait for torch."""
    import autolit.training.validate  # noqa: F401


if __name__ == "__main__":
    sys.exit(run_cli(main))
