"""A data root holding the tiny synthetic store, shared by the serve tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    from tests.synthetic import write_store

    root = tmp_path_factory.mktemp("serve-data")
    write_store(root / "tiny")
    return root
