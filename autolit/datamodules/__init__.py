"""LightningDataModules over the autolit image store."""

from autolit.datamodules.store_datamodule import StoreDataModule

__all__ = ["StoreDataModule"]
