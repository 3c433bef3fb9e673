"""Which URLs the downloader may connect to, decided from the resolved address before connecting.

A scraped URL is attacker-controlled: it may point at ``http://169.254.169.254/`` (cloud
metadata), at ``10.x`` services inside the network, at ``localhost``, or at a DNS name that
resolves to any of those. We resolve once, refuse when ANY resolved address is not globally
routable (unless the literal host is on an explicit allow-list, for tests and private mirrors),
and hand the checked address to the connection so a second DNS answer cannot differ
(DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

_SAFE_PATH = "/%:@!$&'()*+,;=~"
_SAFE_QUERY = _SAFE_PATH + "?"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# Checked explicitly on top of ``is_global`` so a change in the stdlib's tables cannot reopen them.
_EXPLICIT_BLOCKS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96",
))


class Refused(Exception):
    """A URL we will not fetch. ``reason`` is a short stable code for reports."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, with the one address we will connect to."""

    scheme: str
    host: str       # as in the URL (Host header, SNI, certificate check)
    port: int
    path: str       # path + query, as sent in the request line
    address: str    # the checked IP literal


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to (TCP), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def address_is_public(address: IPAddress) -> bool:
    """True when ``address`` is globally routable and in none of the explicit blocks."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if mapped is not None and not address_is_public(mapped):
            return False
    if any(address in net for net in _EXPLICIT_BLOCKS if net.version == address.version):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved
                                      or address.is_unspecified or address.is_link_local)


class NetPolicy:
    """Scheme and address rules for downloads.

    Args:
        allow_hosts: literal hosts (names or IPs as written in URLs, e.g. ``127.0.0.1``) that may
            resolve to non-global addresses. Empty by default: nothing private is reachable.
        resolver: injected for tests; defaults to :func:`system_resolver`.
    """

    def __init__(self, allow_hosts: Iterable[str] = (), resolver: Resolver = system_resolver) -> None:
        self.allow_hosts = frozenset(_norm_host(h) for h in allow_hosts if h.strip())
        self._resolve = resolver

    def check(self, url: str) -> Target:
        """Parse, resolve and check ``url``; raise :class:`Refused` or return the target."""
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # e.g. "http://[oops/": an unclosed IPv6 bracket
            raise Refused("bad_url", str(exc)) from None
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise Refused("bad_scheme", f"scheme {scheme or '(none)'!r} is not http/https")
        try:
            host, port = parts.hostname, parts.port or DEFAULT_PORTS[scheme]
        except ValueError as exc:  # e.g. a non-numeric port
            raise Refused("bad_url", str(exc)) from None
        if not host:
            raise Refused("bad_url", "no host in URL")
        if parts.username or parts.password:
            raise Refused("bad_url", "credentials in URL")
        host = _norm_host(host)
        try:  # internationalised names: the ASCII (punycode) form for DNS, Host and SNI
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise Refused("bad_url", f"host {host!r} is not a valid name") from None
        address = self._pick_address(host, port)
        # Web URLs carry spaces and non-ASCII characters that browsers percent-encode;
        # http.client refuses them, so encode them here (existing %XX escapes are kept).
        path = quote(parts.path or "/", safe=_SAFE_PATH)
        if parts.query:
            path += "?" + quote(parts.query, safe=_SAFE_QUERY)
        return Target(scheme, host, port, path, address)

    def _pick_address(self, host: str, port: int) -> str:
        try:
            addresses = self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise Refused("dns", f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise Refused("dns", f"{host} resolves to no address")
        if host in self.allow_hosts:
            return addresses[0]
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
            if not address_is_public(address):
                raise Refused("blocked_address",
                              f"{host} resolves to non-public address {address} "
                              "(add the host to --allow-hosts to permit it)")
        return addresses[0]


def _norm_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()
