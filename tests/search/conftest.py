"""Fixtures for search tests: a tiny fit config and search config in a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.search.search_configs import write_configs


@pytest.fixture
def search_yaml(tmp_path: Path) -> Path:
    """A valid stub search config."""
    return write_configs(tmp_path)
