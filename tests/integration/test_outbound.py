"""Outbound HTTP through the checked transport, against a real server on 127.0.0.1."""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.core.outbound import OutboundPolicy, open_client
from modelyard.errors import InvalidInput
from tests.conftest import SERVE_POLL_SECONDS


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the Host header it got; ``/away`` redirects to ``elsewhere``."""

    protocol_version = "HTTP/1.1"  # keep connections alive, as real servers do
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path == "/away":
            port = self.server.server_address[1]
            self.send_response(302)
            self.send_header("Location", f"http://elsewhere.test:{port}/taken")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = str(self.headers["Host"]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Echo,), {"seen": seen})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": SERVE_POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        yield int(httpd.server_address[1]), seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_connects_to_the_checked_address_and_keeps_the_name(
    server: tuple[int, list[str]],
) -> None:
    port, seen = server
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    # No system resolver knows model-server.test: only the checked address can be reached.
    policy = OutboundPolicy(private_hosts=frozenset({"model-server.test"}), resolver=resolver)
    with open_client(policy, timeout=5) as client:
        first = client.get(f"http://model-server.test:{port}/a")
        second = client.get(f"http://model-server.test:{port}/b")
    assert (first.status_code, first.text) == (200, f"model-server.test:{port}")
    assert second.text == f"model-server.test:{port}"
    assert seen == ["/a", "/b"]
    assert calls == ["model-server.test"]  # one connection, resolved once, kept alive


def test_a_name_resolving_to_loopback_is_refused_before_connecting(
    server: tuple[int, list[str]],
) -> None:
    port, seen = server
    policy = OutboundPolicy(resolver=lambda host, port: ["127.0.0.1"])
    with (
        open_client(policy, timeout=5) as client,
        pytest.raises(
            InvalidInput, match=r"public\.example\.com \(127\.0\.0\.1\): it is a loopback"
        ),
    ):
        client.get(f"http://public.example.com:{port}/secret")
    assert seen == []


def test_a_redirect_to_another_host_is_refused_before_following_it(
    server: tuple[int, list[str]],
) -> None:
    port, seen = server
    policy = OutboundPolicy(allow_private=True, resolver=lambda host, port: ["127.0.0.1"])
    with (
        open_client(policy, timeout=5) as client,
        pytest.raises(InvalidInput, match="redirected to another host") as caught,
    ):
        client.get(f"http://first.test:{port}/away")
    assert caught.value.details["location"] == f"http://elsewhere.test:{port}/taken"
    assert seen == ["/away"]  # the other host was never asked


def test_an_unresolvable_name_is_a_connection_error() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with (
        open_client(OutboundPolicy(resolver=nowhere), timeout=5) as client,
        pytest.raises(httpx.ConnectError, match=r"cannot resolve nowhere\.test"),
    ):
        client.get("http://nowhere.test/")


def _self_signed(name: str, folder: Path) -> tuple[Path, Path]:
    """A certificate for ``name`` (and its key), signed by itself: its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_checks_the_certificate_against_the_name_not_the_address(tmp_path: Path) -> None:
    cert, key = _self_signed("model-server.test", tmp_path)
    seen: list[str] = []
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Handler", (_Echo,), {"seen": seen})
    )
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    httpd.socket = server_side.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": SERVE_POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        port = httpd.server_address[1]
        trusted = ssl.create_default_context(cafile=str(cert))
        policy = OutboundPolicy(allow_private=True, resolver=lambda host, port: ["127.0.0.1"])
        with open_client(policy, timeout=5, ssl_context=trusted) as client:
            # Connected to 127.0.0.1, verified as model-server.test (SNI and certificate).
            answer = client.get(f"https://model-server.test:{port}/a")
            assert answer.text == f"model-server.test:{port}"
            # The same address under another name: the certificate does not match it.
            with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
                client.get(f"https://other.test:{port}/b")
        assert seen == ["/a"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
