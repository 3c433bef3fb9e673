"""The whole pipeline in-process against the hostile scenario (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import io
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from autolit.net.netpolicy import NetPolicy
from autolit.net.safe_http import FetchLimits, SafeFetcher
from autolit.scrape.collect import ScrapeOptions, collect
from autolit.scrape.queries import QuerySpec, parse_queries
from autolit.scrape.serp import SerpApiImages, SerpConfig
from autolit.store.policy import ImagePolicy, normalize_image
from autolit.store.reader import StoreReader
from autolit.store.writer import StoreWriter
from tests.net.servers import Route
from tests.scrape.scenario import KEY, Scenario

pytestmark = pytest.mark.realdata


def run(sc: Scenario, store: Path, *, queries: str = "ants,bees", **options: object):
    """One scrape with short limits; back-off sleeps are recorded, not slept."""
    sleeps: list[float] = []
    search = SerpApiImages(KEY, SerpConfig(base_url=sc.server.base, retry_delay=0.5),
                           sleep=sleeps.append)
    fetcher = SafeFetcher(NetPolicy(["127.0.0.1"]),
                          FetchLimits(connect_timeout=2, read_timeout=2, deadline=1.5,
                                      max_bytes=2_000_000, per_host=8))
    opts = ScrapeOptions(**{"per_query": 200, "workers": 8, "progress": False, **options})
    report = collect(parse_queries(queries), store, search, fetcher, opts)
    return report, sleeps


def stored_records(store: Path) -> dict[str, dict]:
    """sha256 → record metadata of every stored record."""
    reader = StoreReader(store)
    try:
        return {r["sha256"]: r for r in (reader.record(k) for k in reader.keys())}
    finally:
        reader.close()


def test_hostile_scenario(scenario: Scenario, tmp_path: Path, no_remote_connections: list[str]) -> None:
    store = tmp_path / "store"
    started = time.monotonic()
    report, sleeps = run(scenario, store)
    assert time.monotonic() - started < 30

    # Exactly the real photos (plus the CMYK and rotated ones), each stored once.
    policy = ImagePolicy()
    expected = {label: {normalize_image(d, policy).sha256 for d in datas}
                for label, datas in scenario.stored.items()}
    records = stored_records(store)
    assert set(records) == expected["ants"] | expected["bees"]
    for label, shas in expected.items():
        assert {s for s, r in records.items() if r["label_name"] == label} == shas
    info = StoreReader(store).info()
    assert info["per_label"] == {"ants": len(expected["ants"]), "bees": len(expected["bees"])}

    # Every hostile entry refused with its reason, and remembered as such.
    ants, bees = report.queries
    assert bees.duplicates == len(scenario.duplicates) and ants.duplicates == 0
    assert ants.rejected == Counter(list(scenario.reasons.values()) + ["no_url"] * scenario.no_url)
    assert not bees.rejected
    with StoreWriter(store) as writer:
        for url, reason in scenario.reasons.items():
            assert writer.source_outcome(url) == f"rejected:{reason}", url
        for pair in scenario.duplicates:  # whichever came first is added, the other a duplicate
            outcomes = sorted(writer.source_outcome(url).split(":")[0] for url in pair)
            assert outcomes == ["added", "duplicate"]

    # One 429 on the search API, retried after a back-off.
    assert sleeps == [0.5]
    # Refusals were decided before connecting: only loopback was ever dialled.
    assert no_remote_connections and all(a == "127.0.0.1" for a in no_remote_connections)
    assert scenario.server.hits["/h/meta"] == 1  # the redirect was fetched, its target never


def test_cmyk_stored_as_rgb_and_exif_rotation_applied(scenario: Scenario, tmp_path: Path) -> None:
    store = tmp_path / "store"
    run(scenario, store, queries="bees")
    reader = StoreReader(store)
    by_url = {reader.record(k)["source"]: k for k in reader.keys()}
    cmyk = reader.record(by_url[scenario.cmyk_url])
    assert cmyk["channels"] == 3
    assert Image.open(io.BytesIO(reader.read(by_url[scenario.cmyk_url])[0])).mode == "RGB"
    rotated = reader.record(by_url[scenario.rotated_url])
    assert (rotated["width"], rotated["height"]) == (60, 100)  # served as 100x60 + orientation 6
    image = Image.open(io.BytesIO(reader.read(by_url[scenario.rotated_url])[0])).convert("RGB")
    red, blue = image.getpixel((30, 5)), image.getpixel((30, 90))
    assert red[0] > 200 > red[2] and blue[2] > 200 > blue[0]  # upright: the red band on top
    reader.close()


def test_provenance_is_complete_and_scrubbed(scenario: Scenario, tmp_path: Path) -> None:
    store = tmp_path / "store"
    run(scenario, store, queries="insects=ants")
    records = stored_records(store)
    assert records and {r["label_name"] for r in records.values()} == {"insects"}
    prov = next(iter(records.values()))["provenance"]
    assert prov["query"] == "ants" and prov["label"] == "insects"
    assert prov["url"].startswith(scenario.server.base + "/img/ants/")
    assert prov["domain"] == "example.org" and prov["page"].startswith("https://example.org/page/")
    assert prov["thumbnail"] is False and len(prov["dhash"]) == 16
    assert prov["sha256"] in records and prov["fetched_at"].endswith("+00:00")
    assert KEY.encode() not in b"".join(p.read_bytes() for p in store.iterdir() if p.is_file())


def test_second_run_downloads_nothing_and_adds_nothing(scenario: Scenario, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first, _ = run(scenario, store)
    hits = scenario.server.image_hits()
    second, _ = run(scenario, store)
    assert first.kept > 0 and second.kept == 0
    assert scenario.server.image_hits() == hits  # no image URL fetched again
    assert all(q.downloaded == 0 for q in second.queries)
    assert sum(q.results - q.skipped_seen for q in second.queries) == scenario.no_url


def test_per_query_limit_and_resume_top_up(scenario: Scenario, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first, _ = run(scenario, store, queries="bees", per_query=5)
    assert first.queries[0].kept == 5 and first.queries[0].stopped == "enough"
    again, _ = run(scenario, store, queries="bees", per_query=5)
    assert again.queries[0].kept == 0 and again.search_requests == 0  # already enough: no search
    more, _ = run(scenario, store, queries="bees", per_query=12)
    assert more.queries[0].kept == 7 and more.queries[0].already_kept == 5
    assert StoreReader(store).meta.count == 12


def test_near_duplicates_reported_separately(scenario: Scenario, tmp_path: Path,
                                             photos: dict) -> None:
    # A smaller, recompressed copy of a served photo: same picture, other bytes.
    original = photos["ants"][1][1]
    image = Image.open(io.BytesIO(original)).convert("RGB")
    buf = io.BytesIO()
    image.resize((image.width * 3 // 4, image.height * 3 // 4)).save(buf, "JPEG", quality=60)
    scenario.server.routes["/near/copy.jpg"] = Route(data=buf.getvalue())
    page = scenario.server.serp.pages["ants"]
    page.append([{"position": 999, "original": scenario.server.url("/near/copy.jpg")}])
    report, _ = run(scenario, tmp_path / "store", queries="ants", near_dup=True)
    assert report.queries[0].near_duplicates == 1
    assert report.queries[0].kept == len(scenario.stored["ants"])


def test_thumbnail_fallback_only_when_asked(server, photos: dict, tmp_path: Path) -> None:
    server.routes["/thumb/1.jpg"] = Route(data=photos["bees"][0][1])
    server.serp.pages["bees"] = [[{"position": 1, "original": server.url("/gone.jpg"),
                                   "thumbnail": server.url("/thumb/1.jpg")}]]
    sc = Scenario(server)
    plain, _ = run(sc, tmp_path / "a", queries="bees")
    assert plain.queries[0].kept == 0 and plain.queries[0].rejected == Counter(http_404=1)
    fallback, _ = run(sc, tmp_path / "b", queries="bees", thumbnails=True)
    assert fallback.queries[0].kept == 1 and fallback.queries[0].thumbnails == 1
    prov = next(iter(stored_records(tmp_path / "b").values()))["provenance"]
    assert prov["thumbnail"] is True and prov["original_url"] == server.url("/gone.jpg")


def test_malformed_result_link_does_not_stop_the_scrape(server, photos: dict, tmp_path: Path) -> None:
    server.routes["/img/1.jpg"] = Route(data=photos["bees"][0][1])
    server.serp.pages["bees"] = [[{"position": 1, "original": server.url("/img/1.jpg"),
                                   "link": "http://[oops/page"}]]
    report, _ = run(Scenario(server), tmp_path / "store", queries="bees")
    assert report.queries[0].kept == 1
    prov = next(iter(stored_records(tmp_path / "store").values()))["provenance"]
    assert prov["page"] == "http://[oops/page" and prov["domain"] == "127.0.0.1"


def test_query_parsing_errors() -> None:
    from autolit.errors import UserError

    assert parse_queries("dog=husky, dog=beagle") == [QuerySpec("husky", "dog"), QuerySpec("beagle", "dog")]
    with pytest.raises(UserError, match="listed twice"):
        parse_queries("a,a")
    with pytest.raises(UserError, match="no queries"):
        parse_queries(" , ")
    with pytest.raises(UserError, match="empty query or label"):
        parse_queries("dog=")
