"""Fixtures for search tests: a tiny fit config and search config in a temp folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # spawned workers must import search_stubs by name

from search_configs import write_configs  # noqa: E402 - needs HERE on sys.path


@pytest.fixture
def search_yaml(tmp_path: Path) -> Path:
    """A valid stub search config."""
    return write_configs(tmp_path)
