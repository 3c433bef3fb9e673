"""Fixtures shared by every test folder: where the real data lives, a tiny store, and GPU skipping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout, or ``$AUTOLIT_SHARED_DATA``."""
    return Path(os.environ.get("AUTOLIT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets; tests that need them are skipped, with the reason, when absent."""
    path = shared_data_dir()
    if not (path / "mnist").is_dir() or not (path / "hymenoptera_data").is_dir():
        pytest.skip(f"real data not found at {path} (set AUTOLIT_SHARED_DATA to the shared/data folder)")
    return path


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    """A session-wide tiny synthetic 3-label store (tests/synthetic.py) a small net separates in an epoch."""
    from tests.synthetic import write_store

    return write_store(tmp_path_factory.mktemp("stores") / "tiny")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is present on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
