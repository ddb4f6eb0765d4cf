"""Outbound webhook requests: the address that was checked is the address connected to
(DNS rebinding), non-public answers are refused before any connection, TLS verifies the
URL's host name on the pinned address, and redirects are not followed."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from approvals.webhooks import actions, outbound

PUBLIC = "93.184.216.34"


def fake_resolver(monkeypatch, *answers: list[str]):
    """getaddrinfo answering each call with the next list of addresses (the last repeats)."""
    calls: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        addresses = answers[min(len(calls), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_it_connects_to_the_address_it_checked_not_a_rebound_one(monkeypatch, settings):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    # First answer public, every later answer loopback: a rebinding DNS server.
    fake_resolver(monkeypatch, [PUBLIC], ["127.0.0.1"])
    connected: list = []

    def create_connection(address, *args, **kwargs):
        connected.append(address[0])
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(socket, "create_connection", create_connection)

    with pytest.raises(outbound.Refused, match="ConnectionRefusedError"):
        actions.send("https://hooks.example.com/hook", b"{}", {})
    assert connected == [PUBLIC]


@pytest.mark.parametrize(
    "answer", [["127.0.0.1"], [PUBLIC, "169.254.169.254"], ["10.0.0.7"], ["::1"]]
)
def test_a_non_public_answer_is_refused_before_any_connection(monkeypatch, settings, answer):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    fake_resolver(monkeypatch, answer)
    connected: list = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a))

    with pytest.raises(outbound.Refused, match="non-public address"):
        actions.send("https://hooks.example.com/hook", b"{}", {})
    assert connected == []
    assert "non-public" in actions.destination_error("https://hooks.example.com/hook")


def test_plain_http_and_odd_schemes_are_refused(settings):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    assert actions.destination_error("http://hooks.example.com/") == "webhook URLs must be https://"
    assert actions.destination_error("file:///etc/passwd") == "not an http(s) URL"
    assert actions.destination_error("https://hooks.example.com:99999/").startswith("bad port")


def _certificate(tmp_path, name: str):
    """A CA and a server certificate for ``name`` signed by it; paths of (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sgportal test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class Endpoint:
    """A loopback HTTP(S) server answering ``status`` (with ``location``), recording requests
    and the SNI name it was asked for."""

    def __init__(self, status=200, location=None, tls=None) -> None:
        self.requests: list[dict] = []
        self.sni: list[str | None] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.requests.append({"path": self.path, "host": self.headers["Host"]})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            ca, cert, key = tls
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            context.sni_callback = lambda sock, name, ctx: endpoint.sni.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trusting(monkeypatch, tmp_path):
    """Make outbound trust a test CA; returns a factory of certificate paths."""

    def make(name: str):
        paths = _certificate(tmp_path, name)
        monkeypatch.setattr(
            outbound, "tls_context", lambda: ssl.create_default_context(cafile=str(paths[0]))
        )
        return paths

    return make


def test_tls_verifies_the_url_host_on_the_pinned_address(monkeypatch, settings, trusting):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = True  # the endpoint is on loopback
    endpoint = Endpoint(tls=trusting("hooks.example.test"))
    try:
        fake_resolver(monkeypatch, ["127.0.0.1"])
        url = f"https://hooks.example.test:{endpoint.port}/in?x=1"
        assert actions.send(url, b'{"a": 1}', {"Content-Type": "application/json"}) == 200
        assert endpoint.sni == ["hooks.example.test"]
        assert endpoint.requests == [
            {"path": "/in?x=1", "host": f"hooks.example.test:{endpoint.port}"}
        ]
    finally:
        endpoint.close()


def test_a_certificate_for_another_name_is_refused(monkeypatch, settings, trusting):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    endpoint = Endpoint(tls=trusting("other.example.test"))
    try:
        fake_resolver(monkeypatch, ["127.0.0.1"])
        with pytest.raises(outbound.Refused, match="CERTIFICATE_VERIFY_FAILED|Hostname mismatch"):
            actions.send(f"https://hooks.example.test:{endpoint.port}/", b"{}", {})
        assert endpoint.requests == []
    finally:
        endpoint.close()


def test_a_redirect_is_an_error_and_is_not_followed(settings):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    target = Endpoint()
    endpoint = Endpoint(status=302, location=f"http://127.0.0.1:{target.port}/elsewhere")
    try:
        with pytest.raises(outbound.Refused, match="302") as refused:
            actions.send(f"http://127.0.0.1:{endpoint.port}/", b"{}", {})
        assert refused.value.status_code == 302
        assert len(endpoint.requests) == 1
        assert target.requests == []
    finally:
        endpoint.close()
        target.close()
