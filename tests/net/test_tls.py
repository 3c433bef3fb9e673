"""HTTPS through the pinned connection: SNI and certificate check use the URL's host name."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest

from autolit.net.netpolicy import NetPolicy, Refused
from autolit.net.safe_http import FetchLimits, SafeFetcher
from tests.net.servers import LocalServer, Route

x509 = pytest.importorskip("cryptography.x509", reason="cryptography builds the test certificates")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _cert(subject: str, key, issuer_name, issuer_key, *, ca: bool, san: str | None = None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, *items: bytes) -> str:
    path.write_bytes(b"".join(items))
    return str(path)


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context for images.example, client context trusting only the test CA)."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "autolit test CA")])
    ca = _cert("autolit test CA", ca_key, ca_name, ca_key, ca=True)
    leaf = _cert("images.example", leaf_key, ca_name, ca_key, ca=False, san="images.example")
    enc = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(enc, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(_pem(tmp_path / "leaf.pem", leaf.public_bytes(enc)),
                           _pem(tmp_path / "k.pem", key_pem))
    client = ssl.create_default_context(cafile=_pem(tmp_path / "ca.pem", ca.public_bytes(enc)))
    return server, client


def test_https_pinned_to_checked_address_verifies_the_url_host(tls_pair, no_remote_connections) -> None:
    server_ctx, client_ctx = tls_pair
    with LocalServer(tls=server_ctx) as srv:
        srv.routes["/a.jpg"] = Route(data=b"tls-bytes")
        policy = NetPolicy(["images.example", "other.example"], resolver=lambda h, p: ["127.0.0.1"])
        fetcher = SafeFetcher(policy, FetchLimits(connect_timeout=2, read_timeout=2, deadline=3),
                              tls_context=client_ctx)
        got = fetcher.fetch(f"https://images.example:{srv.port}/a.jpg")
        assert got.data == b"tls-bytes" and srv.hosts[-1] == f"images.example:{srv.port}"
        with pytest.raises(Refused) as info:  # same address, other name: certificate mismatch
            fetcher.fetch(f"https://other.example:{srv.port}/a.jpg")
        assert info.value.reason == "tls"
    assert set(no_remote_connections) == {"127.0.0.1"}
