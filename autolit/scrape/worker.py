"""What a download thread does with one search result: fetch, normalise, hash.

Runs in the thread pool, so it touches no shared state but the fetcher (thread-safe) and
returns an :class:`Outcome` the main thread turns into a store write. Normalising here (not in
the writer) spreads Pillow's decode/resize over the workers; Pillow releases the GIL for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autolit.net.netpolicy import Refused
from autolit.scrape.phash import dhash_bytes
from autolit.net.safe_http import SafeFetcher
from autolit.scrape.scrub import scrub_url
from autolit.scrape.serp import ImageResult
from autolit.store.policy import ImagePolicy, ImageRejected, NormalizedImage, normalize_image

# Failures worth trying again on a later run: the URL is not marked as seen.
TRANSIENT_REASONS = frozenset({"connect", "timeout", "dns", "http_408", "http_429", "http_500",
                               "http_502", "http_503", "http_504"})


@dataclass
class Outcome:
    """The result of working on one search result."""

    result: ImageResult
    image: NormalizedImage | None = None
    dhash: int | None = None
    reason: str = ""            # refusal / rejection code when image is None
    detail: str = ""
    url: str | None = None      # the URL that produced ``image`` (or was tried last)
    final_url: str | None = None
    thumbnail: bool = False
    downloaded: int = 0         # bodies received (0, 1, or 2 with the thumbnail fallback)
    tried: list[str] = field(default_factory=list)  # URLs to mark as seen when definitive

    @property
    def ok(self) -> bool:
        """True when an image is ready to store."""
        return self.image is not None

    @property
    def transient(self) -> bool:
        """True when a later run should try these URLs again."""
        return not self.ok and self.reason in TRANSIENT_REASONS


def candidate_urls(result: ImageResult, thumbnails: bool) -> list[tuple[str, bool]]:
    """(url, is_thumbnail) in the order to try: the original, then the thumbnail if allowed."""
    urls = [(result.original, False)] if result.original else []
    if thumbnails and result.thumbnail and result.thumbnail != result.original:
        urls.append((result.thumbnail, True))
    return urls


def work(result: ImageResult, fetcher: SafeFetcher, policy: ImagePolicy, *, thumbnails: bool) -> Outcome:
    """Fetch and normalise the first usable candidate URL of ``result``."""
    outcome = Outcome(result)
    candidates = candidate_urls(result, thumbnails)
    if not candidates:
        outcome.reason, outcome.detail = "no_url", "result has no 'original' URL"
        return outcome
    for url, is_thumb in candidates:
        outcome.url, outcome.thumbnail = scrub_url(url), is_thumb
        outcome.tried.append(outcome.url)
        try:
            fetched = fetcher.fetch(url)
            outcome.downloaded += 1
            outcome.final_url = scrub_url(fetched.url)
            outcome.image = normalize_image(fetched.data, policy)
        except (Refused, ImageRejected) as exc:
            outcome.reason, outcome.detail = exc.reason, exc.detail
            continue
        outcome.dhash = dhash_bytes(outcome.image.data)
        outcome.reason = outcome.detail = ""
        return outcome
    return outcome
