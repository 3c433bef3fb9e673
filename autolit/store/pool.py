"""CPU-parallel image normalisation for importers, and the loop that feeds results to the writer.

Decoding/encoding runs in a process pool; the single writer stays in the main process. The pool
is started (forked) BEFORE the writer opens the store, so children inherit neither the LMDB
environment nor the writer lock, and no ``if __name__ == "__main__"`` guard is needed in the
caller's script (spawn would re-run it). Work is sent in chunks so per-image inter-process
overhead stays small. Workers die with the importing process (:func:`die_with_parent`), whatever
killed it: a killed import leaves no idle decoders behind.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autolit.store.policy import ImagePolicy, ImageRejected, NormalizedImage, encode_array, normalize_image
from autolit.store.report import ADDED, ALREADY, DUPLICATE, UNREADABLE, ImportReport, Progress
from autolit.system import die_with_parent, usable_cpus

# (reason, detail) stands for a rejected image: exceptions with custom __init__ do not
# round-trip through the pool's pickling reliably.
Outcome = NormalizedImage | tuple[str, str]


@dataclass(frozen=True)
class Job:
    """One image to import: where it came from and what it is labelled with."""

    source: str
    label: str | None = None
    target: float | None = None
    split: str | None = None


def default_workers() -> int:
    """Worker processes for large imports: the CPUs this process may use, at most 8."""
    return max(1, min(8, usable_cpus()))


def encode_arrays(chunk: np.ndarray, policy: dict) -> list[Outcome]:
    """Pool task: encode a stack of uint8 images."""
    pol = ImagePolicy.from_dict(policy)
    return [encode_array(pixels, pol) for pixels in chunk]


def normalize_files(paths: Sequence[str], policy: dict) -> list[Outcome]:
    """Pool task: read and normalise image files; failures become (reason, detail)."""
    pol = ImagePolicy.from_dict(policy)
    out: list[Outcome] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            out.append((UNREADABLE, f"{type(exc).__name__}: {exc.strerror or exc}"))
            continue
        try:
            out.append(normalize_image(data, pol))
        except ImageRejected as rej:
            out.append((rej.reason, rej.detail))
    return out


@contextmanager
def open_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """A started process pool (None for ``workers <= 1``); start it before opening a writer."""
    if workers <= 1:
        yield None
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        pool.submit(int).result()  # with fork, the first submit launches every worker now
        yield pool


def run_chunks(fn: Callable[..., list[Outcome]], chunks: Sequence, policy: dict,
               pool: ProcessPoolExecutor | None) -> Iterator[list[Outcome]]:
    """Yield ``fn(chunk, policy)`` for each chunk, in order; in ``pool`` when given."""
    if pool is None or len(chunks) <= 1:
        for chunk in chunks:
            yield fn(chunk, policy)
        return
    yield from pool.map(fn, chunks, [policy] * len(chunks))


def ingest(writer, report: ImportReport, jobs: Sequence[Job], payloads: Sequence,
           fn: Callable[..., list[Outcome]], *, pool: ProcessPoolExecutor | None, chunk: int, progress: bool,
           label: str) -> None:
    """Normalise ``payloads`` (one per job) with ``fn`` and add them through ``writer``.

    Jobs whose source the store has seen before are skipped without being read again, which
    makes re-importing the same data cheap and idempotent.
    """
    todo: list[int] = []
    for i, job in enumerate(jobs):
        if writer.seen_source(job.source):
            report.note(ALREADY, job.source)
        else:
            todo.append(i)
    bar = Progress(len(todo), label, enabled=progress)
    batches = [todo[k : k + chunk] for k in range(0, len(todo), chunk)]
    chunks = [_select(payloads, idx) for idx in batches]
    try:
        for idx, outcomes in zip(batches, run_chunks(fn, chunks, writer.policy.to_dict(), pool)):
            for i, outcome in zip(idx, outcomes):
                _add(writer, report, jobs[i], outcome)
            bar.update(len(idx))
    finally:
        bar.close()


def _select(payloads: Sequence, idx: list[int]):
    """The payloads of one chunk (a numpy stack stays a numpy stack)."""
    if isinstance(payloads, np.ndarray):
        return payloads[np.asarray(idx, dtype=np.int64)]
    return [payloads[i] for i in idx]


def _add(writer, report: ImportReport, job: Job, outcome: Outcome) -> None:
    if isinstance(outcome, tuple):
        reason, detail = outcome
        writer.mark_source(job.source, f"rejected:{reason}")
        report.note(reason, job.source, detail)
        return
    result = writer.add_normalized(outcome, label=job.label, target=job.target,
                                   source=job.source, split=job.split)
    report.note(ADDED if result.status == "added" else DUPLICATE, job.source,
                result.detail if result.status != "added" else "")


def iter_sorted_files(root: Path) -> Iterable[Path]:
    """Regular files under ``root``, recursively, in sorted order; hidden names are skipped."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file():
            yield path
