"""The baseline tests reuse the Backbone tests' tiny weight file."""

from tests.modules.conftest import tiny_safetensors  # noqa: F401 - a fixture, found by name
