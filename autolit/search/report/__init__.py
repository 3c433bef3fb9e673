"""``search report``: a study as an offline web page (:mod:`.build`, :mod:`.html`, :mod:`.plots`)
and its best trial as a runnable config with its pictures (:mod:`.best`)."""

from __future__ import annotations

from autolit import lazy_exports

_EXPORTS = {"write_report": "build", "Report": "build"}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
