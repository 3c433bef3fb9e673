"""Fixtures for the store tests: tiny synthetic images, folders and stores."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.store.helpers import make_class_folder, png_bytes


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two classes of five tiny PNGs."""
    return make_class_folder(tmp_path / "images")


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    """The :func:`png_bytes` helper as a fixture."""
    return png_bytes


@pytest.fixture
def python() -> str:
    """The interpreter running the tests (for subprocess checks)."""
    return sys.executable
