"""The address policy and the downloader, against real HTTP on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from autolit.net import safe_http
from autolit.net.netpolicy import NetPolicy, Refused, address_is_public
from autolit.net.safe_http import FetchLimits, SafeFetcher
from tests.net.servers import LocalServer, Route

FAST = FetchLimits(connect_timeout=2, read_timeout=1, deadline=2, max_bytes=100_000, per_host=4)


def fetcher(allow: tuple[str, ...] = ("127.0.0.1",), limits: FetchLimits = FAST, **kw) -> SafeFetcher:
    return SafeFetcher(NetPolicy(allow, **kw), limits)


def refusal(f: SafeFetcher, url: str) -> str:
    with pytest.raises(Refused) as info:
        f.fetch(url)
    return info.value.reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert address_is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [
    "10.0.0.1", "127.0.0.1", "127.8.8.8", "169.254.169.254", "172.16.5.4", "192.168.1.1",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1", "::1", "::",
    "fe80::1", "fc00::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "2002:a00:1::", "64:ff9b::a00:1", "ff02::1",
])
def test_non_public_addresses(address: str) -> None:
    assert not address_is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("url, reason", [
    ("file:///etc/passwd", "bad_scheme"), ("ftp://example.org/a.jpg", "bad_scheme"),
    ("gopher://example.org/", "bad_scheme"), ("javascript:alert(1)", "bad_scheme"),
    ("http://user:pw@example.org/a.jpg", "bad_url"), ("http://example.org:abc/", "bad_url"),
    ("http:///nohost", "bad_url"), ("http://10.0.0.1/x.jpg", "blocked_address"),
    ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
    ("http://[::1]/x.jpg", "blocked_address"), ("http://localhost/x.jpg", "blocked_address"),
    ("http://[oops/x.jpg", "bad_url"),
])
def test_policy_refuses_before_connecting(url: str, reason: str, no_remote_connections: list) -> None:
    with pytest.raises(Refused) as info:
        NetPolicy().check(url)
    assert info.value.reason == reason
    assert no_remote_connections == []


def test_any_private_answer_blocks_a_name_and_dns_failure_is_refused() -> None:
    mixed = NetPolicy(resolver=lambda host, port: ["93.184.216.34", "10.1.2.3"])
    with pytest.raises(Refused, match="non-public address 10.1.2.3"):
        mixed.check("https://images.example/a.jpg")

    def broken(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(Refused) as info:
        NetPolicy(resolver=broken).check("https://nope.invalid/a.jpg")
    assert info.value.reason == "dns"
    target = NetPolicy(resolver=lambda h, p: ["93.184.216.34"]).check("https://Images.Example./a?b=1")
    assert (target.host, target.port, target.path, target.address) == (
        "images.example", 443, "/a?b=1", "93.184.216.34")


def test_connects_to_the_checked_address_with_the_original_host(
        server: LocalServer, no_remote_connections: list) -> None:
    server.routes["/a.jpg"] = Route(data=b"\xff\xd8 jpeg-ish")
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)  # a rebinding DNS would answer differently next time: we never ask
        return ["127.0.0.1"]

    f = fetcher(allow=("images.example",), resolver=resolver)
    got = f.fetch(f"http://images.example:{server.port}/a.jpg")
    assert got.data == b"\xff\xd8 jpeg-ish" and got.redirects == 0
    assert calls == ["images.example"]
    assert server.hosts[-1] == f"images.example:{server.port}"
    assert set(no_remote_connections) == {"127.0.0.1"}


def test_redirects_are_rechecked_and_bounded(server: LocalServer, no_remote_connections: list) -> None:
    server.routes["/final.jpg"] = Route(data=b"img")
    for i in range(6):
        server.routes[f"/r{i}"] = Route(kind="redirect", location=f"/r{i + 1}" if i < 5 else "/final.jpg")
    server.routes["/r6"] = Route(kind="redirect", location="/final.jpg")
    server.routes["/to-private"] = Route(kind="redirect", location="http://10.0.0.1/x.jpg")
    server.routes["/to-file"] = Route(kind="redirect", location="file:///etc/passwd", status=301)
    server.routes["/to-junk"] = Route(kind="redirect", location="http://[oops/x.jpg")
    f = fetcher()
    assert f.fetch(server.url("/r1")).redirects == 5       # 5 redirects: allowed
    assert refusal(f, server.url("/r0")) == "too_many_redirects"  # 6: refused
    assert refusal(f, server.url("/to-private")) == "blocked_address"
    assert refusal(f, server.url("/to-file")) == "bad_scheme"
    assert refusal(f, server.url("/to-junk")) == "bad_url"  # a Refused, not a ValueError
    assert "10.0.0.1" not in no_remote_connections


def test_byte_cap_status_and_content_type(server: LocalServer) -> None:
    server.routes["/endless"] = Route(kind="endless")
    server.routes["/big"] = Route(data=b"x" * 200_000)
    server.routes["/page"] = Route(data=b"<html></html>", content_type="text/html; charset=utf-8")
    f = fetcher()
    started = time.monotonic()
    assert refusal(f, server.url("/endless")) == "too_many_bytes"  # 1 GiB body, no length
    assert time.monotonic() - started < 2
    assert refusal(f, server.url("/big")) == "too_many_bytes"      # Content-Length too big
    assert refusal(f, server.url("/page")) == "not_image"
    assert refusal(f, server.url("/missing")) == "http_404"


def test_deadline_read_timeout_and_slow_headers(server: LocalServer) -> None:
    server.routes["/trickle"] = Route(kind="trickle")            # 1 byte/s: each read is in time
    server.routes["/stall"] = Route(kind="stall")                # headers, then nothing
    server.routes["/slow-headers"] = Route(kind="slow_headers")  # headers at 5 bytes/s
    patient = fetcher(limits=FetchLimits(read_timeout=1.5, deadline=1.6))
    strict = fetcher(limits=FetchLimits(read_timeout=0.4, deadline=1.6))
    for f, path, reason in ((patient, "/trickle", "deadline"), (strict, "/stall", "timeout"),
                            (strict, "/slow-headers", "deadline")):
        started = time.monotonic()
        assert refusal(f, server.url(path)) == reason, path
        assert time.monotonic() - started < 2.2, path


def test_connection_refused_is_a_refusal() -> None:
    assert refusal(fetcher(), "http://127.0.0.1:9/x.jpg") == "connect"


def test_concurrency_is_bounded_per_host(server: LocalServer) -> None:
    for i in range(8):
        server.routes[f"/slow{i}"] = Route(data=b"img", delay=0.15)
    f = fetcher(limits=FetchLimits(per_host=2))
    threads = [threading.Thread(target=f.fetch, args=(server.url(f"/slow{i}"),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.max_active == 2


def test_spaces_and_non_ascii_in_urls_are_percent_encoded(server: LocalServer) -> None:
    server.routes["/ant photos/фото.jpg"] = Route(data=b"img")
    assert fetcher().fetch(server.url("/ant photos/фото.jpg")).data == b"img"
    assert server.hits["/ant photos/фото.jpg"] == 1


def test_the_socket_guard_itself_fires() -> None:
    import socket

    with pytest.raises(AssertionError, match="non-loopback 10.0.0.1"):
        socket.create_connection(("10.0.0.1", 80), timeout=0.1)


def test_the_deadline_bounds_the_connect(no_remote_connections: list) -> None:
    """A host whose accept queue is full drops the SYN: only a timeout ends the connect."""
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # takes the only backlog place
            f = fetcher(limits=FetchLimits(connect_timeout=5, deadline=0.4))
            started = time.monotonic()
            assert refusal(f, f"http://127.0.0.1:{port}/a.jpg") in {"deadline", "timeout"}
            assert time.monotonic() - started < 1.5  # was: the whole 5 s connect timeout


def test_no_dns_lookup_for_a_redirect_once_the_deadline_has_passed(server: LocalServer, monkeypatch) -> None:
    server.routes["/r"] = Route(kind="redirect", status=302, location="/a.jpg")
    server.routes["/a.jpg"] = Route(data=b"img")
    lookups: list[str] = []
    f = fetcher(limits=FetchLimits(deadline=5), resolver=lambda host, port: lookups.append(host) or ["127.0.0.1"])
    skew = [0.0]
    monkeypatch.setattr(safe_http, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + skew[0]))
    real_get = f._get

    def first_hop_uses_the_deadline(target, deadline):
        result = real_get(target, deadline)
        skew[0] += 10
        return result

    monkeypatch.setattr(f, "_get", first_hop_uses_the_deadline)
    assert refusal(f, server.url("/r")) == "deadline"
    assert lookups == ["127.0.0.1"]  # was: the redirect's host was resolved after the deadline
