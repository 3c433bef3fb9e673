"""LightningDataModules over the autolit image store.

``StoreDataModule`` is imported on first use (PEP 562) so that light modules of this package
(``autolit.datamodules.preprocess``, used by ``autolit.predict``) load without Lightning/torch.
"""

from typing import Any

__all__ = ["StoreDataModule"]


def __getattr__(name: str) -> Any:
    if name == "StoreDataModule":
        from autolit.datamodules.store_datamodule import StoreDataModule

        return StoreDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
