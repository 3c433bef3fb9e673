"""The API key and the Scenario record shared by the scrape tests and their conftest.

A module of its own (``from tests.scrape.scenario import ...``): tests never import a conftest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.net.servers import LocalServer

KEY = "secret-0123456789abcdef-test"


@dataclass
class Scenario:
    """What the hostile scenario serves and what a correct scrape must make of it."""

    server: LocalServer
    stored: dict[str, list[bytes]] = field(default_factory=dict)  # label → bytes to be stored
    reasons: dict[str, str] = field(default_factory=dict)          # URL → expected refusal
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (copy URL, original URL)
    no_url: int = 0                                                # results without 'original'
    cmyk_url: str = ""
    rotated_url: str = ""
