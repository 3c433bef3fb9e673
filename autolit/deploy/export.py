"""Export a checkpoint into a folder (every format of the registry asked for), then verify it.

The folder gets one model file per format (``formats/``), labels.json, preprocessing.json,
spec.json and metadata.json (+ the int8 twins with ``quantize="int8"``). The checkpoint and every
exported file run once over the store's test split (decoded once, in small batches; seeded noise
when there is no test split): each file's outputs are compared with the checkpoint's, a difference
above :data:`~autolit.deploy.verify.TOLERANCE` is an error, and the same outputs give each its
test score with the task's own metrics (the ones ``autolit.fit`` logs). All of it happens in a
temporary folder beside the output, moved in only once every check passed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autolit.deploy import bundle, verify
from autolit.deploy.checkpoint import checkpoint_metrics, predictor
from autolit.modules.checkpoint import load_checkpoint, rebuild_model
from autolit.deploy.formats import DEFAULT_FORMATS, EXPORTERS, exported_files
from autolit.deploy.preprocessing import FILE as PREPROCESSING_FILE
from autolit.deploy.preprocessing import Preprocessing
from autolit.deploy.quantize import quantize_export
from autolit.deploy.runtime import load_runtime
from autolit.errors import UserError
from autolit.store import StoreReader
from autolit.system import usable_cpus

SAMPLE = 64  # seeded-noise images the files are checked on when there is no test split
QUANTIZE = ("int8",)
FAILED_SUFFIX = ".failed"  # where the files of an export that failed verification are kept


@dataclass
class ExportReport:
    """What an export wrote and how well the exported files reproduce the checkpoint."""

    out_dir: Path
    checkpoint: Path
    files: dict[str, int]                       # file name -> bytes
    agreements: list[verify.Agreement]
    metadata: dict[str, Any]
    quantization: dict[str, Any] | None = None
    test: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.agreements)

    def render(self) -> str:
        """A short human-readable summary (printed by the CLIs)."""
        lines = [f"exported {self.checkpoint} -> {self.out_dir}"]
        lines += [f"  {name:<20} {size / 1024:9.1f} KiB" for name, size in self.files.items()]
        for a in self.agreements:
            tol = "not enforced" if a.tolerance is None else f"tol {a.tolerance:g}"
            lines.append(f"  check {a.file:<16} [{a.runtime}] max|diff| {a.max_abs_diff:.2e} ({tol}), "
                         f"top-1 agreement {a.top1_agreement:.1%} {'ok' if a.ok else 'FAILED'}")
        if self.test:
            match = "matches" if self.test["fingerprint_matches"] else "DIFFERS from training"
            scores = ", ".join(f"{name} {_fmt_scores(v)}" for name, v in self.test.items()
                               if isinstance(v, dict))
            lines.append(f"  test split ({self.test['n']} images, store fingerprint {match}): {scores}")
        for name, row in (self.quantization or {}).get("models", {}).items():
            change = ", ".join(f"{k[6:]} {row[f'float_{k[6:]}']:.4f} -> {row[f'int8_{k[6:]}']:.4f} "
                               f"({row[k]:+.4f})" for k in row if k.startswith("delta_"))
            lines.append(f"  int8 {name:<16} {row['bytes'] / 1024:.1f} KiB = {row['size_ratio']:.2f}x of "
                         f"{row['float_bytes'] / 1024:.1f} KiB; {change or 'no test split to score'}")
        return "\n".join(lines)


def _fmt_scores(scores: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4f}" for k, v in scores.items())


def export_checkpoint(ckpt_path: str | Path, out_dir: str | Path,
                      formats: Sequence[str] = DEFAULT_FORMATS, quantize: str | None = None, *,
                      store: str | Path | None = None, tolerance: float = verify.TOLERANCE,
                      batch_size: int | None = None, threads: int | None = None) -> ExportReport:
    """Export ``ckpt_path`` into ``out_dir`` and verify every file against the checkpoint.

    The files are written and checked in a temporary folder beside ``out_dir`` and moved in only
    when every check passed, so a failed re-export leaves the previous export as it was.

    Args:
        ckpt_path: a Lightning checkpoint written by ``autolit.fit`` (loaded weights-only).
        out_dir: folder to write (created; the files of an earlier export there are replaced, other
            files stay).
        formats: names from :data:`~autolit.deploy.formats.EXPORTERS`.
        quantize: ``None`` or ``"int8"`` (dynamic quantisation of Linear layers).
        store: the store whose test split scores the export (default: the one the checkpoint
            was trained on, if it still exists); its task and labels must be the checkpoint's.
        tolerance: largest allowed max-abs difference of exported outputs vs the checkpoint.
        batch_size: images per verification batch (default: :func:`~autolit.deploy.verify.batch_size_for`
            of the input size); the outputs do not depend on it beyond kernel rounding.
        threads: intra-op threads of PyTorch and ONNX Runtime while verifying (default: the CPUs
            this process may use, :func:`autolit.system.usable_cpus`, set once for both).

    Raises:
        UserError: unreadable/unsafe checkpoint, unknown format, missing package, a store that does
            not fit the checkpoint, or a verification difference above ``tolerance`` (the files
            then go to ``<out_dir>.failed`` for inspection, with metadata saying FAILED, which
            predict refuses; ``out_dir`` is not touched).
    """
    formats = check_formats(formats, quantize)
    if not tolerance >= 0:
        raise UserError(f"--tolerance {tolerance}: must be a number >= 0 (default {verify.TOLERANCE:g})")
    threads = _positive("--threads", threads, usable_cpus())
    with _torch_threads(threads):
        return _export(Path(ckpt_path), Path(out_dir), formats, quantize, store, tolerance, batch_size, threads)


def _positive(flag: str, value: int | None, default: int) -> int:
    """``value`` if it is a whole number >= 1, ``default`` if None; anything else is a UserError."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{flag} {value!r}: must be an integer >= 1 (default {default})")
    return value


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``threads`` for the block, then back (export is a library call)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _export(ckpt_path: Path, out_dir: Path, formats: tuple[str, ...], quantize: str | None,
            store: str | Path | None, tolerance: float, batch_size: int | None, threads: int) -> ExportReport:
    """:func:`export_checkpoint` once its options are checked."""
    ckpt = load_checkpoint(ckpt_path)
    net = predictor(rebuild_model(ckpt, ckpt_path), ckpt)  # in training's memory order
    hparams = dict(ckpt["hyper_parameters"])
    pre = Preprocessing.from_hparams(hparams)
    batch_size = _positive("--batch-size", batch_size, verify.batch_size_for(pre.channels, pre.image_size))
    # all that can fail early, before writing:
    inputs, test = _inputs_and_test(_scoring_store(ckpt, store), pre, batch_size)
    work = _work_dir(out_dir)
    try:
        agreements, metadata, quant, test_scores = _write_and_verify(
            work, ckpt, ckpt_path, net, hparams, pre, formats, quantize, tolerance, inputs, test, threads)
        final = out_dir if all(a.ok for a in agreements) else _failed_dir(out_dir)
        _move_into(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = ExportReport(final, ckpt_path, _listing(final), agreements, metadata, quant, test_scores)
    if not report.ok:
        bad = [a for a in agreements if not a.ok]
        raise UserError(f"export verification FAILED for {', '.join(a.file for a in bad)}: max abs diff "
                        f"{max(a.max_abs_diff for a in bad):.3g} > tolerance {tolerance:g} vs the checkpoint "
                        f"(details in {final / bundle.METADATA_FILE}; the files stay there for inspection, "
                        f"predict refuses them, {out_dir} was left as it was); fix: report this as a bug")
    return report


def _write_and_verify(work: Path, ckpt: dict[str, Any], ckpt_path: Path, net: torch.nn.Module,
                      hparams: dict[str, Any], pre: Preprocessing, formats: Sequence[str], quantize: str | None,
                      tolerance: float, inputs: verify.Inputs, test: dict[str, Any],
                      threads: int) -> tuple[Any, ...]:
    """Write every file into ``work`` and check it: (agreements, metadata, quantisation, test scores).

    Each model runs once over ``inputs``; those outputs give both its agreement and its score.
    """
    example = torch.zeros(1, pre.channels, pre.image_size, pre.image_size)
    for name in formats:
        EXPORTERS[name].export(net, example, work / EXPORTERS[name].file)
    pre.save(work)
    bundle.write_json(work / bundle.LABELS_FILE, bundle.label_map(hparams))
    bundle.write_json(work / bundle.SPEC_FILE, bundle.spec_record(hparams))

    reference = inputs.outputs(verify.torch_predict(net))
    runtimes = [load_runtime(work, name, threads=threads) for name in formats]
    outputs = {rt.path.name: inputs.outputs(rt.run) for rt in runtimes}
    agreements = [verify.compare(reference, outputs[rt.path.name], rt.path.name, rt.name, net.task, tolerance)
                  for rt in runtimes]
    test_scores = _test_scores(net.task, reference, outputs, test)
    quant = quantize_export(net, work, runtimes, example, inputs, reference, test, test_scores, threads) \
        if quantize else None
    if quant:
        agreements += quant.pop("agreements")
    metadata = {
        "checkpoint": str(ckpt_path), "checkpoint_sha256": bundle.sha256_file(ckpt_path),
        "store_fingerprint": pre.store_fingerprint, "checkpoint_metrics": checkpoint_metrics(ckpt),
        "task": pre.task, "formats": list(formats), "tolerance": tolerance,
        "sample": {"size": len(inputs.images), "source": inputs.source, "batch_size": inputs.batch_size,
                   "threads": threads},
        "verification": [a.to_dict() for a in agreements], "test_split": test_scores,
        "quantization": quant, "versions": _versions(formats), "files": _listing(work),
    }
    bundle.write_json(work / bundle.METADATA_FILE, metadata)
    return agreements, metadata, quant, test_scores


def check_formats(formats: Sequence[str] | str, quantize: str | None = None) -> tuple[str, ...]:
    """Normalise ``--format`` (a list or a comma string); refuse unknown names and missing packages."""
    if isinstance(formats, str):
        formats = formats.split(",")
    wanted = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    bad = [f for f in wanted if f not in EXPORTERS]
    if bad or not wanted:
        raise UserError(f"--format {','.join(formats)!r}: unknown or empty; valid: {', '.join(EXPORTERS)}")
    if quantize not in (None, *QUANTIZE):
        raise UserError(f"--quantize {quantize!r} is unknown; valid: {', '.join(QUANTIZE)}")
    for name in wanted:
        EXPORTERS[name].check_installed("--format")
    return wanted


def _failed_dir(out_dir: Path) -> Path:
    """Where an export that failed verification is kept for inspection: ``<out_dir>.failed``."""
    out = out_dir.resolve()
    return out.parent / (out.name + FAILED_SUFFIX)


def _work_dir(out_dir: Path) -> Path:
    """A new temporary folder beside ``out_dir`` (same filesystem: its files are renamed into place)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; fix: pass a folder (a new one, or an earlier export)")
    try:
        parent = out_dir.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".exporting-", dir=parent))
    except OSError as exc:
        raise _unwritable(out_dir, exc) from None


def _move_into(work: Path, dest: Path) -> None:
    """Replace the files of an earlier export in ``dest`` by ``work``'s (other files stay).

    The earlier export's files all go, or re-exporting with fewer formats or without
    ``--quantize`` would leave its ONNX / int8 files beside the new labels for predict to run.
    metadata.json goes first and comes last: predict refuses a folder without it, so it never
    runs a mix of the two exports.
    """
    names = sorted((p.name for p in work.iterdir()), key=lambda name: name == bundle.METADATA_FILE)
    try:
        dest.mkdir(exist_ok=True)
        for name in (bundle.METADATA_FILE, *exported_files(), bundle.LABELS_FILE, bundle.SPEC_FILE,
                     PREPROCESSING_FILE):
            (dest / name).unlink(missing_ok=True)
        for name in names:
            os.replace(work / name, dest / name)
    except OSError as exc:
        raise _unwritable(dest, exc) from None


def _unwritable(out_dir: Path, exc: OSError) -> UserError:
    return UserError(f"--out {out_dir}: cannot write there ({exc.strerror or exc}); fix: pick a folder you "
                     "can write to")


def _listing(out_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(out_dir.iterdir()) if p.is_file()}


def _scoring_store(ckpt: dict[str, Any], store: str | Path | None) -> StoreReader | None:
    """The store to score on: ``store`` if given (must be a store), else the training store if still there.

    Either must hold the checkpoint's task and labels (:func:`~autolit.deploy.verify.check_store_fits`).
    """
    if store is None:
        trained = (ckpt.get("datamodule_hyper_parameters") or {}).get("store")
        if not trained or not Path(trained).exists():
            return None
        store, where = trained, f"the training store {trained}"
    else:
        where = f"--store {store}"
    try:
        reader = StoreReader(store)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    try:
        verify.check_store_fits(reader.meta, ckpt["hyper_parameters"], where)
    except UserError:
        reader.close()
        raise
    return reader


def _inputs_and_test(store: StoreReader | None, pre: Preprocessing,
                     batch_size: int) -> tuple[verify.Inputs, dict[str, Any]]:
    """What the models run on (the test split, decoded once, if a store is there, else seeded
    noise) + what scores it (targets, store, fingerprint match; empty without a test split)."""
    if store is not None:
        try:
            x, y = verify.load_split(store, pre, "test")
        finally:
            store.close()
        if len(x):
            test = {"y": y, "store": str(store.path),
                    "fingerprint_matches": store.meta.fingerprint == pre.store_fingerprint}
            return verify.Inputs(x, pre.normalize, batch_size, "store test split"), test
    rng = np.random.default_rng(0)
    shape = (SAMPLE, pre.channels, pre.image_size, pre.image_size)
    noise = rng.standard_normal(shape).astype(np.float32)
    return verify.Inputs(noise, lambda batch: batch, batch_size, "random normal"), {}


def _test_scores(task: Any, reference: np.ndarray, outputs: dict[str, np.ndarray],
                 test: dict[str, Any]) -> dict[str, Any]:
    """Test-split score of the checkpoint (``reference``) and of each exported file, from the
    outputs the agreement checks computed."""
    if not test:
        return {}
    scores: dict[str, Any] = {"store": test["store"], "n": len(test["y"]),
                              "fingerprint_matches": test["fingerprint_matches"],
                              "checkpoint": verify.score(reference, test["y"], task)}
    for name, out in outputs.items():
        scores[name] = verify.score(out, test["y"], task)
    return scores


def _versions(formats: Sequence[str]) -> dict[str, str]:
    import lightning

    versions = {"torch": torch.__version__, "lightning": lightning.__version__}
    for module in sorted({m for name in formats for m in EXPORTERS[name].needs} - {"torch"}):
        if importlib.util.find_spec(module) is not None:
            versions[module] = __import__(module).__version__
    return versions
