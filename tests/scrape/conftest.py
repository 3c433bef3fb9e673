"""Fixtures for the scrape tests: real photos, local servers, a hostile scenario (and tests/net's socket guard)."""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.net.guard import no_remote_connections  # noqa: F401 - the socket guard, autouse here too
from tests.net.servers import LocalServer, Route
from tests.scrape.scenario import KEY, Scenario

PER_CLASS = 24        # photos per class: enough pages to page through, fast on 2 cores
PAGE_SIZE = 10        # results per fake SerpApi page
MAX_PHOTO_BYTES = 300_000


def shared_data() -> Path:
    """``../shared/data`` next to the repo, or $AUTOLIT_SHARED_DATA."""
    env = os.environ.get("AUTOLIT_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="session")
def photos() -> dict[str, list[tuple[str, bytes]]]:
    """(name, bytes) of real hymenoptera photos per class (ants, bees) from train/."""
    root = shared_data() / "hymenoptera_data"
    if not (root / "train" / "ants").is_dir():
        pytest.skip(f"hymenoptera photos not found at {root} (set AUTOLIT_SHARED_DATA)")
    out: dict[str, list[tuple[str, bytes]]] = {}
    for label in ("ants", "bees"):
        files = [p for p in sorted((root / "train" / label).glob("*.jpg"))
                 if p.stat().st_size <= MAX_PHOTO_BYTES][:PER_CLASS]
        out[label] = [(p.name, p.read_bytes()) for p in files]
    out["extra"] = [(p.name, p.read_bytes()) for p in sorted((root / "val" / "ants").glob("*.jpg"))[:1]]
    return out


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A fresh SerpApi stand-in + image host on 127.0.0.1."""
    with LocalServer(key=KEY) as srv:
        yield srv


def png_bomb_header(width: int = 60000, height: int = 60000) -> bytes:
    """A valid PNG claiming ``width``x``height`` pixels, with a few bytes of pixel data."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def cmyk_jpeg(photo: bytes) -> bytes:
    """A real photo re-saved as a CMYK JPEG."""
    buf = io.BytesIO()
    Image.open(io.BytesIO(photo)).convert("CMYK").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def rotated_jpeg() -> bytes:
    """A 100x60 JPEG whose EXIF orientation 6 makes it an upright 60x100 image, red on top."""
    upright = Image.new("RGB", (60, 100), (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, 60, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def _result(url: str | None, i: int, title: str) -> dict:
    entry = {"position": i + 1, "title": title, "link": f"https://example.org/page/{i}",
             "source": "example.org", "thumbnail": f"https://example.org/thumb/{i}.jpg"}
    if url is not None:
        entry["original"] = url
    return entry


def _paginate(entries: list[dict], seed: int) -> list[list[dict]]:
    random.Random(seed).shuffle(entries)
    return [entries[i:i + PAGE_SIZE] for i in range(0, len(entries), PAGE_SIZE)]


def _hostile(sc: Scenario, photo: bytes) -> list[str | None]:
    """Register the hostile routes; return their URLs (None = a result with no original)."""
    srv = sc.server
    srv.routes.update({
        "/h/page.html": Route(data=b"<html><body>not an image</body></html>", content_type="text/html"),
        "/h/bomb.png": Route(data=png_bomb_header(), content_type="image/png"),
        "/h/truncated.jpg": Route(data=photo[: len(photo) // 2]),
        "/h/random.jpg": Route(data=random.Random(0).randbytes(4096)),
        "/h/endless.jpg": Route(kind="endless"),
        "/h/trickle.jpg": Route(kind="trickle"),
        "/h/meta": Route(kind="redirect", location="http://169.254.169.254/latest/meta-data/"),
    })
    expected = {
        "/h/page.html": "not_image", "/h/bomb.png": "too_large", "/h/truncated.jpg": "truncated",
        "/h/random.jpg": "not_image", "/h/endless.jpg": "too_many_bytes",
        "/h/trickle.jpg": "deadline", "/h/meta": "blocked_address", "/h/missing.jpg": "http_404",
    }
    sc.reasons.update({srv.url(p): r for p, r in expected.items()})
    sc.reasons.update({"file:///etc/passwd": "bad_scheme", f"ftp://127.0.0.1:{srv.port}/a.jpg":
                       "bad_scheme", "http://10.0.0.1/x.jpg": "blocked_address"})
    sc.no_url = 1
    return [*sc.reasons, None]


@pytest.fixture
def scenario(server: LocalServer, photos: dict[str, list[tuple[str, bytes]]]) -> Scenario:
    """Ants and bees photos across several pages, mixed with every hostile entry of the issue."""
    sc = Scenario(server)
    server.serp.fail_once[("bees", 0)] = 429
    entries: dict[str, list[dict]] = {"ants": [], "bees": []}
    for label in ("ants", "bees"):
        sc.stored[label] = []
        for name, data in photos[label]:
            server.routes[f"/img/{label}/{name}"] = Route(data=data)
            entries[label].append(_result(server.url(f"/img/{label}/{name}"), 0, name))
            sc.stored[label].append(data)
    for i, (name, data) in enumerate(photos["bees"][:3]):  # the same bytes under other URLs
        server.routes[f"/copy/{i}.jpg"] = Route(data=data)
        sc.duplicates.append((server.url(f"/copy/{i}.jpg"), server.url(f"/img/bees/{name}")))
        entries["bees"].append(_result(sc.duplicates[-1][0], 0, f"copy of {name}"))
    server.routes["/img/cmyk.jpg"] = Route(data=cmyk_jpeg(photos["extra"][0][1]))
    server.routes["/img/rotated.jpg"] = Route(data=rotated_jpeg())
    sc.cmyk_url, sc.rotated_url = server.url("/img/cmyk.jpg"), server.url("/img/rotated.jpg")
    for url in (sc.cmyk_url, sc.rotated_url):
        entries["bees"].append(_result(url, 0, "special"))
        sc.stored["bees"].append(server.routes[url.removeprefix(server.base)].data)
    entries["ants"] += [_result(u, 0, "hostile") for u in _hostile(sc, photos["ants"][0][1])]
    for seed, label in enumerate(("ants", "bees")):
        for i, entry in enumerate(entries[label]):
            entry["position"] = i + 1
        server.serp.pages[label] = _paginate(entries[label], seed)
    return sc
