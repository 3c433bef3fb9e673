"""Check a fit config as ``python -m autolit.fit`` would, without building or writing anything.

The job service (``python -m autolit.serve``) refuses a bad config before it queues a job, with
the CLI's own one-line message. So this runs the fit CLI's parser (unknown keys, wrong types, an
unknown class, the value checks of jsonargparse) and the same
:meth:`~autolit.training.cli.AutoLitCLI.before_instantiate_classes` a fit runs (optimizer and
scheduler arguments, ``--ckpt_path``, a Backbone's preprocessing), then checks that the store
exists or ``data.source`` names a valid source. Nothing is instantiated: no store is built, no run
folder, model or trainer made.

    from autolit.training import check_fit_config
    check_fit_config(yaml.safe_load(text))      # raises UserError with the key, the value, the fix
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from autolit.errors import UserError
from autolit.training.cli import AutoLitCLI, build_cli

# build_cli swaps the process's warning filters (warnings.catch_warnings is not thread-safe) and
# jsonargparse keeps parser state in context variables: one check at a time in a process.
_LOCK = threading.Lock()


class _CheckOnlyCLI(AutoLitCLI):
    """The fit CLI up to (and including) its checks; instantiating is left to the fit itself."""

    def _set_seed(self) -> None:
        """No seed: checking a config must not touch the process's RNGs or PL_GLOBAL_SEED."""

    def instantiate_classes(self) -> None:
        """Nothing is built: the checks ran in ``before_instantiate_classes``."""


def check_fit_config(config: dict[str, Any], *, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Raise :class:`UserError` where ``autolit.fit`` would refuse ``config`` before training.

    ``run_dir`` is where the fit will write (as :func:`build_cli`'s), used only to look up
    ``ckpt_path: last``. Returns the parsed config as a plain dict (defaults filled in).
    """
    if not isinstance(config, dict):
        raise UserError(f"a fit config is a mapping of trainer/model/data/... sections, not {type(config).__name__}")
    with _LOCK:
        cli = build_cli(dict(config), run_dir=run_dir, cli_class=_CheckOnlyCLI, progress=False)
    data = cli.config.get("data")
    _check_store_or_source(data.get("store"), data.get("source"))
    return cli.config.as_dict()


def _check_store_or_source(store: Any, source: Any) -> None:
    """What the datamodule needs first: an existing store, or a source to build it from."""
    from autolit.datamodules.sources import resolve_all

    if source:
        resolve_all(source)  # checks every entry and its options; imports nothing
    elif not Path(store).exists():
        raise UserError(f"data.store: {store} does not exist; import data first "
                        f"(python -m autolit.store import ... --store {store}) or set data.source")
