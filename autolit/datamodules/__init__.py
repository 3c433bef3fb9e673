"""LightningDataModules over the autolit image store.

``StoreDataModule`` is imported on first use (PEP 562) so that light modules of this package
(``autolit.datamodules.preprocess``, used by ``autolit.predict``) load without Lightning/torch.
"""

from __future__ import annotations

from autolit import lazy_exports

_EXPORTS = {"StoreDataModule": "store_datamodule"}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
