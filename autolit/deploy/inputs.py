"""Turn predict's INPUT arguments into named byte sources: files, folders (recursive), URLs.

Nothing here raises for a bad input: each source yields its bytes or a :class:`BadImage` with a
short reason, so one unreadable file never stops the others. URLs go through the scraper's
:class:`~autolit.net.safe_http.SafeFetcher` (public addresses only, redirects re-checked,
timeouts, the same byte cap as files); tests and embedders may inject any ``Fetch`` callable instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autolit.deploy.preprocessing import BadImage
from autolit.store.policy import MAX_SOURCE_BYTES  # the store's cap: bigger files are not photos we decode

Fetch = Callable[[str], bytes]
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


@dataclass(frozen=True)
class Source:
    """One input to predict: its display name and how to get its bytes."""

    name: str
    kind: str  # "file" | "url" | "missing" | "empty" (a folder without image files)

    def read(self, fetch: Fetch | None) -> bytes:
        """The encoded bytes, or :class:`BadImage` (missing, too big, refused URL...)."""
        if self.kind == "url":
            return (fetch or default_fetch())(self.name)
        if self.kind == "missing":
            raise BadImage("missing", "no such file or folder")
        if self.kind == "empty":
            raise BadImage("no_images", f"folder holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        path = Path(self.name)
        if not path.is_file():  # a FIFO would block open() forever, /dev/zero never ends
            raise BadImage("unreadable", "not a regular file (a FIFO, device or socket); pass an image file")
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_SOURCE_BYTES + 1)  # counted, not stat()ed: the size may lie or grow
        except OSError as exc:
            raise BadImage("unreadable", exc.strerror or type(exc).__name__) from None
        if len(data) > MAX_SOURCE_BYTES:
            raise BadImage("too_large", f"file is over {MAX_SOURCE_BYTES} bytes")
        return data


def is_url(text: str) -> bool:
    """True for http(s) URLs (other schemes are files with odd names, and then missing)."""
    return text.lower().startswith(("http://", "https://"))


def expand(inputs: list[str]) -> Iterator[Source]:
    """Files as given; folders walked recursively in sorted order (image suffixes only); URLs."""
    for text in inputs:
        if is_url(text):
            yield Source(text, "url")
            continue
        path = Path(text)
        if path.is_dir():
            found = False
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES:
                    found = True
                    yield Source(str(child), "file")
            if not found:  # say so: a silent empty result looks like success
                yield Source(text, "empty")
        elif path.exists():
            yield Source(text, "file")
        else:
            yield Source(text, "missing")


_DEFAULT: Fetch | None = None


def default_fetch() -> Fetch:
    """The scraper's safe downloader with its default net policy (no private addresses)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = safe_fetch()
    return _DEFAULT


def safe_fetch(allow_hosts: tuple[str, ...] = ()) -> Fetch:
    """A ``Fetch`` backed by :class:`SafeFetcher`; ``allow_hosts`` may reach private addresses (tests)."""
    from autolit.net.netpolicy import NetPolicy, Refused
    from autolit.net.safe_http import FetchLimits, SafeFetcher

    # The files' cap, not the scraper's: a URL and the same image saved to disk get the same answer.
    fetcher = SafeFetcher(NetPolicy(allow_hosts=allow_hosts), FetchLimits(max_bytes=MAX_SOURCE_BYTES))

    def fetch(url: str) -> bytes:
        try:
            return fetcher.fetch(url).data
        except Refused as exc:
            raise BadImage(f"url_{exc.reason}", exc.detail) from None
    return fetch
