"""The SerpApi adapter against the local stand-in: paging, retries, errors, key hygiene."""

from __future__ import annotations

import logging
import traceback

import pytest

from autolit.scrape.scrub import install_log_filters, scrub_text, scrub_url
from autolit.scrape.serp import SerpApiError, SerpApiImages, SerpConfig
from tests.net.servers import LocalServer
from tests.scrape.scenario import KEY


def client(server: LocalServer, sleeps: list[float] | None = None, key: str = KEY,
           **config: object) -> SerpApiImages:
    sleeps = [] if sleeps is None else sleeps
    return SerpApiImages(key, SerpConfig(base_url=server.base, retry_delay=0.25, **config),
                         sleep=sleeps.append)


def entries(n: int, start: int = 0) -> list[dict]:
    return [{"position": i + 1, "original": f"https://img.example/{i}.jpg"} for i in range(start, start + n)]


def test_pages_until_no_results(server: LocalServer) -> None:
    server.serp.pages["ants"] = [entries(3), entries(2, 3), [{"position": 9}]]
    api = client(server)
    pages = list(api.pages("ants", chips="color:red"))
    assert [len(p) for p in pages] == [3, 2, 1]
    assert pages[2][0].original is None  # an entry with no original is kept for the report
    assert [p["ijn"] for p in server.serp.seen_params] == ["0", "1", "2", "3"]
    first = server.serp.seen_params[0]
    assert (first["engine"], first["q"], first["chips"]) == ("google_images", "ants", "color:red")
    assert api.requests_made == 4


def test_google_engine_uses_tbm_isch_and_max_pages(server: LocalServer) -> None:
    server.serp.pages["q"] = [entries(1, i) for i in range(10)]
    assert len(list(client(server, engine="google", max_pages=3).pages("q"))) == 3
    assert server.serp.seen_params[0]["engine"] == "google"
    assert server.serp.seen_params[0]["tbm"] == "isch"


def test_repeated_page_ends_the_query(server: LocalServer) -> None:
    server.serp.pages["loop"] = [entries(2)] * 5
    assert len(list(client(server).pages("loop"))) == 1


def test_429_and_5xx_back_off_then_succeed(server: LocalServer) -> None:
    server.serp.pages["bees"] = [entries(2)]
    server.serp.fail_once[("bees", 0)] = 429
    sleeps: list[float] = []
    assert len(client(server, sleeps).page("bees", 0)) == 2
    assert sleeps == [0.25]


def test_persistent_5xx_gives_up_after_bounded_retries(server: LocalServer) -> None:
    server.serp.always = 503
    sleeps: list[float] = []
    with pytest.raises(SerpApiError, match="still fails after 3 attempts .*HTTP 503"):
        client(server, sleeps, retries=2).page("x", 0)
    assert sleeps == [0.25, 0.5] and len(server.serp.seen_params) == 3


def test_wrong_key_stops_at_once_without_the_key(server: LocalServer) -> None:
    wrong = "wrong-key-abcdef123456"
    with pytest.raises(SerpApiError, match=r"refused the API key \(HTTP 401.*Invalid API key") as info:
        client(server, key=wrong).page("ants", 0)
    assert len(server.serp.seen_params) == 1
    text = "".join(traceback.format_exception(info.value))
    assert wrong not in text and "\n" not in str(info.value)


def test_non_json_body_is_an_error_not_a_crash(server: LocalServer) -> None:
    server.serp.body = b"<html>captive portal</html>"
    with pytest.raises(SerpApiError, match="not a JSON object"):
        client(server, retries=1).page("ants", 0)


@pytest.mark.parametrize("base_url", ["serpapi.com", "ftp://serpapi.com", "http://"])
def test_malformed_endpoint_stops_at_once(base_url: str) -> None:
    sleeps: list[float] = []
    api = SerpApiImages(KEY, SerpConfig(base_url=base_url), sleep=sleeps.append)
    with pytest.raises(SerpApiError, match="--serpapi-url .* is not a usable http") as info:
        api.page("ants", 0)
    assert sleeps == [] and api.requests_made == 1
    assert KEY not in "".join(traceback.format_exception(info.value))


def test_network_error_text_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    install_log_filters([KEY])
    api = SerpApiImages(KEY, SerpConfig(base_url="http://127.0.0.1:9", retries=1, retry_delay=0),
                        sleep=lambda s: None)
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        with pytest.raises(SerpApiError) as info:
            api.page("ants", 0)
    message = "".join(traceback.format_exception(info.value))
    assert "network error" in message and KEY not in message
    assert info.value.__context__ is None or KEY not in str(info.value.__context__)
    assert KEY not in caplog.text


def test_debug_logs_of_urllib3_are_scrubbed(server: LocalServer, caplog: pytest.LogCaptureFixture) -> None:
    install_log_filters([KEY])
    server.serp.pages["ants"] = [entries(1)]
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        client(server).page("ants", 0)
    assert "GET /search?" in caplog.text and "api_key=***" in caplog.text  # urllib3 logs the URL
    assert KEY not in caplog.text


@pytest.mark.parametrize("name", ["urllib3.util.retry", "urllib3.poolmanager"])
def test_other_urllib3_loggers_that_echo_urls_are_scrubbed(name: str, caplog: pytest.LogCaptureFixture) -> None:
    install_log_filters([KEY])
    with caplog.at_level(logging.DEBUG, logger=name):
        logging.getLogger(name).debug("Incremented Retry for (url='%s')", f"/search?q=a&api_key={KEY}")
    assert "api_key=***" in caplog.text and KEY not in caplog.text


def test_scrub_helpers() -> None:
    assert scrub_url("https://serpapi.com/search?q=a&api_key=abc123&ijn=0") == (
        "https://serpapi.com/search?q=a&api_key=***&ijn=0")
    assert scrub_url("x?API_KEY=s3cr3t#frag") == "x?API_KEY=***#frag"
    assert scrub_url("u=https%3A%2F%2Fa%3Fapi_key%3Dzzz%26q") == "u=https%3A%2F%2Fa%3Fapi_key%3D***%26q"
    assert scrub_url("https://img.example/monkey=1.jpg") == "https://img.example/monkey=1.jpg"
    assert scrub_text("server said: bad key 0123456789", ["0123456789"]) == "server said: bad key ***"


def test_empty_key_is_a_user_error() -> None:
    from autolit.errors import UserError

    with pytest.raises(UserError, match="SERPAPI_API_KEY is empty"):
        SerpApiImages("")
