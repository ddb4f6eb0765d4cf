"""One outbound HTTP request to a tenant's webhook endpoint, safe against SSRF.

A tenant admin chooses the URL, so the URL is hostile until proven otherwise. The host is
resolved once; every address it resolves to must be public (or the development switch
``SGPORTAL_WEBHOOKS_ALLOW_PRIVATE`` is on), and the connection goes to one of those very
addresses. Resolving again at connect time, as urllib does, lets a DNS answer with a short
TTL pass the check with a public address and then point the request at 127.0.0.1 or the
cloud metadata service (DNS rebinding). TLS still verifies the certificate against the
URL's host name (SNI and hostname check), so pinning the address weakens nothing. No proxy
from the environment, no redirects: a 3xx is an error.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_RESPONSE_BYTES = 64 * 1024  # read (and discard) at most this much of an answer


class Refused(Exception):
    """The destination may not be called, or the call failed; the message says why."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]  # checked, in resolver order


# IPv6 forms that carry an IPv4 address a translator or the stack may deliver to: NAT64's
# well-known prefix, IPv4-translated (SIIT) and IPv4-compatible. Python calls them global
# whatever they embed; the embedded address is the one that must be public.
_EMBEDDING_IPV4 = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
    ipaddress.ip_network("::/96"),
)


def is_public(address: str) -> bool:
    """Whether ``address`` (and any IPv4 address an IPv6 one embeds) is globally routable."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if not ip.is_global:
        return False
    if ip.version == 6 and any(ip in net for net in _EMBEDDING_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF).is_global
    return True


def _private_allowed() -> bool:
    return bool(getattr(settings, "SGPORTAL_WEBHOOKS_ALLOW_PRIVATE", False))


def resolve(url: str) -> Destination:
    """Check ``url`` and resolve its host once; Refused with the reason otherwise."""
    parts = urlsplit(url)
    allow_private = _private_allowed()
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("not an http(s) URL")
    if parts.scheme != "https" and not allow_private:
        raise Refused("webhook URLs must be https://")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Refused(f"bad port: {exc}") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise Refused(f"{parts.hostname} resolves to no address")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise Refused(f"{parts.hostname} resolves to a non-public address")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Destination(parts.scheme, parts.hostname, port, path, addresses)


def tls_context() -> ssl.SSLContext:
    """The system's trust store, hostname checking on (tests substitute their own CA)."""
    return ssl.create_default_context()


def _connection(dest: Destination, address: str, timeout: float) -> http.client.HTTPConnection:
    if dest.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            dest.host, dest.port, timeout=timeout, context=tls_context()
        )
    else:
        conn = http.client.HTTPConnection(dest.host, dest.port, timeout=timeout)

    # http.client connects to (self.host, self.port), resolving again; connect to the
    # address that was checked instead. TLS wraps this socket with server_hostname=host.
    def pinned(_address, timeout, source_address=None):
        return socket.create_connection((address, dest.port), timeout, source_address)

    conn._create_connection = pinned  # type: ignore[attr-defined]
    return conn


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` once; the status code on 2xx, Refused (with the code) otherwise."""
    dest = resolve(url)
    last_error: Exception | None = None
    for address in dest.addresses:
        conn = _connection(dest, address, timeout)
        try:
            conn.request("POST", dest.path, body=body, headers=headers)
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            last_error = exc
            if isinstance(exc, ssl.SSLError | ssl.CertificateError):
                break  # the host answered with a bad certificate: do not try the next one
            continue
        finally:
            conn.close()
        if 200 <= status < 300:
            return status
        if 300 <= status < 400:
            raise Refused(f"HTTP {status} (redirects are not followed)", status)
        raise Refused(f"HTTP {status}", status)
    raise Refused(f"{type(last_error).__name__}: {last_error}")
