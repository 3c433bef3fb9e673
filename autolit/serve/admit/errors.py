""":class:`AdmissionError` (one line: key path, value, why, fix) and the SerpApi key scrubber.

The server's SerpApi key is read from ``SERPAPI_API_KEY`` (the variable the scrape source reads)
each time it is needed, never stored. Every refusal is scrubbed before it exists: a config that
holds the key is refused without echoing it, in the message and in ``value`` alike.
"""

from __future__ import annotations

import os

from autolit.errors import UserError, one_line
from autolit.scrape.scrub import MASK, scrub_text

KEY_ENV = "SERPAPI_API_KEY"  # autolit.scrape.source.KEY_ENV (not imported: it loads the scrape client)
SHOWN = 160  # characters of an offending value shown in a message


def server_key() -> str:
    """The server's SerpApi key, or ``""`` when none is set."""
    return os.environ.get(KEY_ENV, "").strip()


def scrub(text: str) -> str:
    """``text`` without the server's SerpApi key or any credential query parameter (``api_key=…``)."""
    key = server_key()
    return scrub_text(text, [key] if key else [])


def holds_key(text: str) -> bool:
    """True when ``text`` contains the server's SerpApi key (too short a key is never matched)."""
    key = server_key()
    return len(key) >= 4 and key in text


class AdmissionError(UserError):
    """A config refused: one line naming the key path, the value, why, and the fix.

    ``key`` is the dotted path of the offending value (``trainer.callbacks[0].class_path``,
    ``data.store``); ``value`` the value (scrubbed to its ``repr`` when it held a credential);
    ``why`` and ``fix`` the two halves of the message.
    """

    key: str
    value: object

    def __init__(self, key: str, value: object, why: str, fix: str) -> None:
        self.why, self.fix = scrub(why), scrub(fix)
        shown = repr(value)
        if scrub(shown) != shown:
            value = shown = scrub(shown)
        if len(shown) > SHOWN:
            shown = shown[:SHOWN] + "…"
        self.key, self.value = scrub(key), value
        super().__init__(scrub(one_line(f"{self.key}: {shown} {why}; fix: {fix}", limit=2000)))

    def moved(self, key: str, why: str | None = None) -> AdmissionError:
        """The same refusal under another key path (a search config's key for a trial's fit key)."""
        return AdmissionError(key, self.value, why or self.why, self.fix)


__all__ = ["AdmissionError", "KEY_ENV", "MASK", "holds_key", "scrub", "server_key"]
