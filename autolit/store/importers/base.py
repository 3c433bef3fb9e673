"""What every importer shares: its description (:class:`Importer`, :class:`Option`), option checks
that name the key, and :func:`run_jobs`, the writer + pool loop that fills an :class:`ImportReport`.

An importer is one file of this package that defines ``IMPORTER``; the registry
(``autolit.store.importers.IMPORTERS``) lists them, and both the CLI (``python -m autolit.store
import <name>``) and ``data.source`` are built from it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autolit.errors import UserError, suggest
from autolit.store.envs import is_store
from autolit.store.policy import ENCODINGS, ImagePolicy
from autolit.store.pool import Job, default_workers, ingest, open_pool
from autolit.store.report import ImportReport
from autolit.store.splits import SplitPolicy
from autolit.store.writer import StoreWriter

# Images per write transaction: each commit fsyncs, so big batches make bulk imports ~2x faster;
# a crash loses at most one batch, which the next run of the same import redoes.
IMPORT_BATCH = 2048
MAX_WORKERS = 64  # decode processes; more only thrashes (each holds a Pillow decoder and a chunk)
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list of strings"}


@dataclass(frozen=True)
class Option:
    """One option of an importer: a ``--flag`` on the CLI and a key in ``data.source``.

    ``default`` None means "not set": the importer (or the store) decides. ``low``/``high`` bound
    numbers (inclusive); ``above`` is an exclusive lower bound (timeouts must be > 0); ``rule``
    returns what is wrong with a value (or None), for checks the fields cannot say.
    """

    name: str
    type: type
    help: str
    default: Any = None
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    above: float | None = None
    required: bool = False
    rule: Callable[[Any], str | None] | None = None

    @property
    def flag(self) -> str:
        """The CLI spelling, e.g. ``--max-side``."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any, where: str) -> Any:
        """``value`` converted and range-checked; a UserError names ``where`` and the rule."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.type is list and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        ok = isinstance(value, self.type) and not (self.type is not bool and isinstance(value, bool))
        if ok and self.type is list:
            ok = all(isinstance(v, str) for v in value)
        if not ok:
            raise UserError(f"{where}: {value!r} must be {_TYPE_NAMES[self.type]}")
        if self.choices is not None and value not in self.choices:
            raise UserError(f"{where}: {value!r} is not one of {', '.join(self.choices)}")
        rule = None
        if self.low is not None and value < self.low:
            rule = f"at least {self.low:g}"
        elif self.high is not None and value > self.high:
            rule = f"at most {self.high:g}"
        elif self.above is not None and value <= self.above:
            rule = f"more than {self.above:g}"
        if rule:
            raise UserError(f"{where}: {value!r} is out of range; use a value {rule}")
        problem = self.rule(value) if self.rule is not None else None
        if problem:
            raise UserError(f"{where}: {problem}")
        return value


@dataclass(frozen=True)
class Importer:
    """A registry entry: what the importer takes and the function that runs it.

    ``run(*[arg], store, progress=, policy=, split_policy=, **options)`` returns a report with
    ``table()`` and ``to_dict()``. ``arg`` is the metavar of the path it takes (None: it takes
    none); ``aliases`` are ``data.source`` strings that stand for fixed options (``digits-parity``);
    ``check(options, where)`` validates the options together (after each was checked alone);
    ``missing(labels, arg, options)`` says which options still need importing into an existing
    store with those labels (None: nothing); ``cli`` False keeps it out of ``autolit.store import``
    (the scrape source has its own command).
    """

    name: str
    help: str
    run: Callable[..., Any]
    arg: str | None = None
    arg_help: str = ""
    options: tuple[Option, ...] = ()
    aliases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    example: str = ""
    missing: Callable[[Sequence[str], str | None, dict], dict | None] | None = None
    check: Callable[[dict, Callable[[str], str]], None] | None = None
    cli: bool = True

    def option(self, name: str) -> Option | None:
        """The option called ``name``, if the importer has it."""
        return next((o for o in self.options if o.name == name), None)

    def forms(self) -> list[str]:
        """How ``data.source`` may name it (for error messages and docs)."""
        forms = list(self.aliases) or ([f"{self.name}:{self.arg}"] if self.arg else [self.name])
        return forms + ([self.example] if self.example else [])


def add_option_flags(parser: argparse.ArgumentParser, options: Sequence[Option], *,
                     show_defaults: bool = False) -> None:
    """One ``--flag`` per option, absent ones None (so :func:`check_options` applies the default and
    every check); a list option is taken as one ``a,b,c`` string that :meth:`Option.check` splits."""
    for opt in options:
        if opt.type is bool:
            parser.add_argument(opt.flag, dest=opt.name, action="store_true", default=None, help=opt.help)
            continue
        default = f" (default {opt.default})" if show_defaults and opt.default not in (None, False, ()) else ""
        parser.add_argument(opt.flag, dest=opt.name, type=str if opt.type is list else opt.type,
                            choices=opt.choices, default=None, required=opt.required, help=opt.help + default)


# Options several importers share (each importer lists the ones it accepts).
MAX_SIDE = Option("max_side", int, "long side limit for a new store (256)", low=1)
ENCODE = Option("encode", str, "encoding for a new store (auto: JPEG for JPEG/WEBP sources, else PNG)",
                choices=ENCODINGS)
BATCH_SIZE = Option("batch_size", int, f"images per write transaction (default {IMPORT_BATCH})", low=1)
WORKERS = Option("workers", int, "decode processes (default: CPUs, at most 8)", low=1, high=MAX_WORKERS)
VAL_FRACTION = Option("val_fraction", float, "new store: share of val (0.1)", low=0.0, high=0.99)
TEST_FRACTION = Option("test_fraction", float, "new store: share of test (0.1)", low=0.0, high=0.99)
STORE_OPTIONS = (MAX_SIDE, ENCODE, BATCH_SIZE, VAL_FRACTION, TEST_FRACTION)


def check_options(importer: Importer, options: Mapping[str, Any], where: Callable[[str], str]) -> dict:
    """Every key known and every value valid (``where(name)`` spells the key in messages)."""
    names = [o.name for o in importer.options]
    out = {}
    for name, value in options.items():
        opt = importer.option(str(name))
        if opt is None:
            raise UserError(f"{where(str(name))}: unknown option{suggest(str(name), names)}; "
                            f"{importer.name} takes {', '.join(names) or 'no options'}")
        if value is not None:
            out[opt.name] = opt.check(value, where(opt.name))
    for opt in importer.options:
        if opt.required and opt.name not in out:
            raise UserError(f"{where(opt.name)} is required ({opt.help})")
    if importer.check is not None:
        importer.check(out, where)
    return out


def invoke(importer: Importer, arg: str | None, store: str | Path, options: Mapping[str, Any], *,
           progress: bool = False, split_policy: SplitPolicy | None = None) -> Any:
    """Run ``importer`` with checked ``options``; the store-wide ones become policies.

    ``split_policy`` is the default for a new store when the options set no fractions.
    """
    opts = dict(options)
    max_side, encode = opts.pop("max_side", None), opts.pop("encode", None)
    policy = None
    if max_side is not None or encode is not None:  # a policy only when asked (else the store's own)
        base = ImagePolicy()
        policy = ImagePolicy(max_side=base.max_side if max_side is None else max_side,
                             encode=encode or base.encode)
    val, test = opts.pop("val_fraction", None), opts.pop("test_fraction", None)
    if val is not None or test is not None:
        base_split = split_policy or SplitPolicy()
        split_policy = SplitPolicy(val=base_split.val if val is None else val,
                                   test=base_split.test if test is None else test)
    args = (arg,) if importer.arg else ()
    return importer.run(*args, store, progress=progress, policy=policy, split_policy=split_policy, **opts)


def existing_dir(path: str | Path, what: str) -> Path:
    """``path`` as a Path when it is a folder; else a UserError saying what it is instead."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist; check the path")
    if not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder; pass the folder that holds the data")
    return path


def run_jobs(store_path: str | Path, source: str, jobs: list[Job], payloads, fn, *, task: str,
             labels: list[str] | None, policy: ImagePolicy | None, batch_size: int,
             workers: int | None, pool_min: int, chunk: int, progress: bool,
             split: SplitPolicy | None = None, extra_skips: Sequence[tuple[str, str]] = ()) -> ImportReport:
    """Open the writer, normalise ``payloads`` with ``fn`` (in a pool), add them, fill the report.

    ``workers`` None means :func:`default_workers`; imports of fewer than ``pool_min`` jobs run
    inline, where a pool would cost more than it saves. ``split`` is the policy of a new store.
    """
    t0 = time.perf_counter()
    if len(jobs) < pool_min:
        workers = 1
    elif workers is None:
        workers = default_workers()
    store_path = Path(store_path)
    report = ImportReport(store=str(store_path), source=source)
    new_store = not is_store(store_path)
    with open_pool(workers) as pool, StoreWriter(
        store_path, task=task, labels=labels, policy=policy, split=split if new_store else None,
        batch_size=batch_size,
    ) as writer:
        for path, reason in extra_skips:
            report.note(reason, path)
        ingest(writer, report, jobs, payloads, fn, pool=pool, chunk=chunk,
               progress=progress, label=f"import {Path(source).name}")
        writer.flush()
        meta = writer.meta
    report.count, report.fingerprint = meta["count"], meta["fingerprint"]
    report.seconds = time.perf_counter() - t0
    return report
