"""What a string parameter of an admitted class means for the file system: a place it writes, one
folder name, a file name template, a remote service, or plain text.

Lightning's classes take their folders under names such as ``save_dir``, ``dirpath``,
``default_root_dir`` and ``exclude_batches_path``; a logger joins ``name``/``version``/``sub_dir``
under its ``save_dir`` and a checkpoint joins ``filename`` under its ``dirpath``, so those are
parts of a path too. :data:`TEXT` lists the string parameters of the allowlisted classes that were
read and found to be no path at all (``monitor: val/acc`` holds a ``/`` and is a metric name); a
test enumerates every string parameter of every allowlisted class and fails on one that is in
neither list, so a parameter Lightning adds is looked at before it is trusted. At run time a
string that looks like a path under a parameter in neither list is refused (fail closed).
"""

from __future__ import annotations

import re

from autolit.serve.admit.slots import Slot

WRITE, COMPONENT, TEMPLATE, REMOTE = "write", "component", "template", "remote"
_WRITE_NAME = re.compile(r"(^|_)(dir|dirpath|path|file|folder|root|root_dir|save_dir|log_dir)$")
_REMOTE_NAME = re.compile(r"(^|_)(uri|url|host|endpoint|location|registry)$")
# a logger's log folder is save_dir/name/version[/sub_dir]
COMPONENTS = ("name", "version", "sub_dir")

TEXT = frozenset({
    # Trainer: registry names and literals Lightning resolves itself
    "accelerator", "strategy", "devices", "precision", "profiler", "deterministic", "gradient_clip_algorithm",
    "max_time", "val_check_interval",
    # autolit's module and datamodule (their paths, data.store and data.source, are checked by name)
    "task", "preset", "loss", "compile", "label_names", "cache",
    # callbacks
    "monitor", "mode", "save_last", "train_time_interval", "logging_interval", "duration", "interval",
    "write_interval", "batch_arg_name", "attr_name", "annealing_strategy", "device", "pruning_fn",
    "parameter_names",
    # RichProgressBar's theme and columns: rich styles and format strings
    "description", "progress_bar", "progress_bar_finished", "progress_bar_pulse", "batch_progress", "time",
    "processing_speed", "metrics", "metrics_text_delimiter", "metrics_format", "style", "text_delimiter",
    "complete_style", "finished_style", "pulse_style",
    # loggers
    "prefix",
    # optimizers and schedulers: registry names and literals
    "line_search_fn", "adjust_lr_fn", "anneal_strategy", "threshold_mode", "scale_mode", "anneal_epochs",
    "last_epoch", "use_buffers",
})


def role(owner: type, name: str, slot: Slot) -> str | None:
    """What the string parameter ``name`` of ``owner`` is (None: plain text or not a string)."""
    from lightning.pytorch.loggers import Logger

    if _REMOTE_NAME.search(name):
        return REMOTE
    if name in COMPONENTS and issubclass(owner, Logger):
        return COMPONENT
    if name == "filename":
        return TEMPLATE
    if slot.path or _WRITE_NAME.search(name):
        return WRITE
    return None


def looks_like_path(text: str) -> bool:
    """A string that a file system would take as a path somewhere else than one plain name."""
    return "/" in text or "\\" in text or text.startswith("~") or text in (".", "..")
