"""Keep the SerpApi key out of every URL, message and log line.

The ``google-search-results`` client puts ``api_key`` in the query string, so any URL that
``requests`` or ``urllib3`` echoes (exception text, debug logs, ``response.url``) carries the key.
Everything that leaves this package passes through :func:`scrub_url` / :func:`scrub_text` first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Query parameters whose value is a credential. ``serp_api_key`` is the client's legacy name.
SECRET_PARAMS = ("api_key", "serp_api_key", "apikey", "key", "token", "access_token")
MASK = "***"

_PARAM_RE = re.compile(
    r"(?P<name>(?<![A-Za-z0-9_])(?:" + "|".join(SECRET_PARAMS) + r"))=(?P<value>[^&#\s'\"]*)",
    re.IGNORECASE,
)
# Also catch the percent-encoded form (a URL nested in another URL's query string).
_ENCODED_RE = re.compile(
    r"(?P<name>(?:" + "|".join(SECRET_PARAMS) + r"))%3D(?P<value>[^&%\s'\"]*)", re.IGNORECASE
)


def scrub_url(url: str) -> str:
    """Return ``url`` with the value of every credential parameter replaced by ``***``."""
    url = _PARAM_RE.sub(lambda m: f"{m.group('name')}={MASK}", url)
    return _ENCODED_RE.sub(lambda m: f"{m.group('name')}%3D{MASK}", url)


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Scrub credential parameters and every literal occurrence of ``secrets`` from ``text``.

    The literal pass is the belt to :func:`scrub_url`'s braces: a key echoed back by a server in
    an error body, or embedded in a message we did not foresee, is still masked.
    """
    text = scrub_url(text)
    for secret in secrets:
        if secret and len(secret) >= 4:  # masking 1-3 characters would mangle ordinary text
            text = text.replace(secret, MASK)
    return text


_URL_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry",
                "requests")


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs the formatted message of every record it sees.

    Installed on the ``urllib3`` and ``requests`` loggers: at DEBUG level urllib3 logs
    ``GET /search?...&api_key=...``; with the filter the key never reaches a handler.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its scrubbed rendering; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own error path
            return True
        record.msg = scrub_text(message, self._secrets)
        record.args = None
        return True


def install_log_filters(secrets: Iterable[str] = ()) -> None:
    """Attach a :class:`ScrubFilter` to the loggers that echo request URLs (idempotent)."""
    secrets = tuple(secrets)
    # A logger's filters see only records logged on that logger itself, not those propagated
    # from its children, so every module that logs a request URL is named.
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, ScrubFilter)]:
            logger.removeFilter(old)
        logger.addFilter(ScrubFilter(secrets))
