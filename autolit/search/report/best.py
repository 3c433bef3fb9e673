"""The best trial as files: ``best.yaml`` (a runnable fit config) and its TensorBoard pictures.

``best.yaml`` is the trial's ``resolved.yaml`` (every ``auto`` filled in, the sampled values in
place, its seed) made runnable anywhere: the trial's own logger and folder are dropped (a rerun
must not write into the trial's folder), the device comes back from the fit config (the trial ran
on whatever slot it got), and a relative ``data.store`` is made absolute from the folder the search
ran in. When the trial folder is not on this host, the config is rebuilt from the search config
and the trial's parameters instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from optuna.trial import FrozenTrial

from autolit.search.best import trial_config
from autolit.search.records import RUN_DIR

IMAGE_TAGS = {"val/confusion_matrix": "best_confusion_matrix.png", "samples/val": "best_samples.png"}


@dataclass
class BestFiles:
    """What :func:`write_best` wrote (paths relative to the report folder) or why not."""

    config: str | None
    images: dict[str, str]
    note: str


def write_best(trial: FrozenTrial | None, study_attrs: dict[str, Any], out: Path) -> BestFiles:
    """Write ``best.yaml`` and the best trial's confusion matrix / sample grid into ``out``."""
    if trial is None:
        return BestFiles(None, {}, "no complete trial yet")
    run_dir = Path(str(trial.user_attrs.get(RUN_DIR, "")))
    config, source = trial_config(trial, study_attrs)
    if config is None:
        return BestFiles(None, {}, source)
    header = (f"# Trial {trial.number} of study {study_attrs.get('_name', '?')} (value {trial.value:.6g}), "
              f"from {source}.\n# Retrain it: python -m autolit.fit --config {out / 'best.yaml'}\n")
    (out / "best.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False))
    images = tensorboard_images(run_dir, out) if run_dir.is_dir() else {}
    return BestFiles("best.yaml", images, f"trial {trial.number}, from {source}")


def tensorboard_images(run_dir: Path, out: Path) -> dict[str, str]:
    """The last confusion matrix and the sample grid a trial logged, as PNG files in ``out``."""
    try:
        from tensorboard.backend.event_processing import event_accumulator as ea
    except ImportError:
        return {}
    acc = ea.EventAccumulator(str(run_dir), size_guidance={ea.IMAGES: 1, ea.SCALARS: 0, ea.TENSORS: 0,
                                                            ea.HISTOGRAMS: 0})
    try:
        acc.Reload()
        tags = set(acc.Tags().get(ea.IMAGES, []))
    except Exception:  # noqa: BLE001 - a damaged event file only costs the pictures
        return {}
    written = {}
    for tag, name in IMAGE_TAGS.items():
        if tag in tags:
            (out / name).write_bytes(acc.Images(tag)[-1].encoded_image_string)
            written[tag] = name
    return written
