"""Hyperparameter search over a fit config.

Run a study (one worker process per device slot)::

    python -m autolit.search --config configs/search/digits.yaml --n-trials 8 --devices cpu:2 \
        [--timeout S] [--per-device K] [--storage PATH_OR_URL] [--study-name NAME] [--runs-dir runs/search]

Look at it (while it runs, too), write its report, export its best model::

    python -m autolit.search status --storage runs/search/digits/journal.log --study-name digits [--top 10] [--json]
    python -m autolit.search report --storage runs/search/digits/journal.log --study-name digits --out reports/digits
    python -m autolit.search best --storage runs/search/digits/journal.log --study-name digits [--refit \
        [--max-epochs N]] [--export out/ [--format torchscript,onnx]]

``--storage`` is a journal file path (default ``<runs-dir>/<study>/journal.log``) or a
``postgresql://`` URL; SQLite is refused (it locks up under parallel workers).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from autolit.errors import UserError, run_cli

COMMANDS = ("status", "best", "report")


def run_parser() -> argparse.ArgumentParser:
    """Parser of the default (run) command."""
    p = argparse.ArgumentParser(prog="python -m autolit.search", description="Run an Optuna study.")
    p.add_argument("--config", required=True, help="search YAML (configs/search/<name>.yaml)")
    p.add_argument("--n-trials", type=int, help="trials the study should hold (default: study.n_trials)")
    p.add_argument("--timeout", type=float, help="seconds the whole run may take, refit included "
                   "(trials and refit are planned to fit)")
    p.add_argument("--devices", default="auto", help="auto | cpu:N | GPU ids like 0,1")
    p.add_argument("--per-device", type=int, default=1, help="workers per GPU")
    p.add_argument("--storage", help="journal file path or postgresql:// URL")
    p.add_argument("--study-name", help="default: study.name of the config")
    p.add_argument("--runs-dir", default="runs/search", help="trial folders go to <runs-dir>/<study>/")
    return p


def inspect_parser(command: str) -> argparse.ArgumentParser:
    """Parser of ``status``, ``best`` and ``report``."""
    p = argparse.ArgumentParser(prog=f"python -m autolit.search {command}")
    p.add_argument("--storage", required=True, help="journal file path or postgresql:// URL")
    p.add_argument("--study-name", required=True)
    if command == "report":
        p.add_argument("--out", type=Path, required=True, help="folder for index.html, trials.csv/json, best.yaml")
        return p
    p.add_argument("--top", type=int, default=10, help="rows in the table")
    if command == "status":
        p.add_argument("--json", action="store_true", help="every trial as one JSON document")
    if command == "best":
        p.add_argument("--export", type=Path, help="write the best trial's model here (autolit.export)")
        p.add_argument("--format", help="with --export: comma list of formats (default: autolit.export's, "
                       "torchscript,onnx)")
        p.add_argument("--quantize", choices=("int8",), help="with --export: also write int8 models")
        p.add_argument("--refit", action="store_true", help="train the best trial again at study.refit's budget "
                       "(or its own), test it once, record it on the study; --export then exports it")
        p.add_argument("--max-epochs", type=int, help="with --refit: epochs of the refit (default: study.refit's "
                       "max_epochs, else the trial's)")
    return p


def main(argv: list[str] | None = None, *, factory: Any = None, data_info: Any = None) -> int:
    """Entry point; returns the exit status. ``factory``/``data_info`` replace the real
    objective and data probe (tests pass stubs)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return inspect(argv[0], inspect_parser(argv[0]).parse_args(argv[1:]))
    return run(run_parser().parse_args(argv), factory=factory, data_info=data_info)


def run(args: argparse.Namespace, *, factory: Any = None, data_info: Any = None) -> int:
    """Run the study the flags describe; print the best trials."""
    from autolit.search.run.driver import SearchRequest, launch
    from autolit.search.status import format_table

    request = SearchRequest(config=args.config, n_trials=args.n_trials, timeout=args.timeout,
                            devices=args.devices, per_device=args.per_device, storage=args.storage,
                            study_name=args.study_name, runs_dir=Path(args.runs_dir))
    study = launch(request, factory=factory, data_info=data_info)
    print(format_table(study), flush=True)
    return 0


def inspect(command: str, args: argparse.Namespace) -> int:
    """``status``: print the table; ``report``: write it; ``best``: print the best trial, optionally export it."""
    from autolit.search.records import best_trial, load_existing_study
    from autolit.search.status import format_table, status_json

    for flag in ("format", "quantize"):
        if getattr(args, flag, None) is not None and args.export is None:
            raise UserError(f"--{flag} applies to --export: add --export DIR")
    if getattr(args, "max_epochs", None) is not None and (not args.refit or args.max_epochs < 1):
        raise UserError(f"--max-epochs {args.max_epochs}: give 1 or more epochs, together with --refit")
    if getattr(args, "top", 1) < 1:
        raise UserError(f"--top {args.top}: give 1 or more rows")
    study = load_existing_study(args.storage, args.study_name)
    if command == "report":
        from autolit.search.report import write_report

        print(write_report(study, args.out).summary())
        return 0
    if command == "status" and args.json:
        print(status_json(study))
        return 0
    print(format_table(study, top=args.top))
    if command == "best":
        best = best_trial(study)
        if best is None:
            raise UserError(f"study {args.study_name} has no completed trial yet: run the search first")
        print(f"best: trial {best.number} value {best.value:.4f} params {best.params}")
        if args.refit:
            from autolit.search.refit import refit_settings, refit_text
            from autolit.search.run.refit import run_refit

            print(refit_text(run_refit(study, refit_settings(study), max_epochs=args.max_epochs)), flush=True)
        if args.export is not None:
            from autolit.search.best import export_best

            print(export_best(args.storage, args.study_name, args.export, args.format,
                              quantize=args.quantize).render())
    return 0


if __name__ == "__main__":
    run_cli(main)
