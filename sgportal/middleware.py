"""Request middleware: trusted proxies, request ids, and the admin's lookup guard."""

from __future__ import annotations

import ipaddress
import logging
import re

from django.conf import settings
from django.db import DataError
from django.http import HttpResponseBadRequest

from sgportal.context import new_request_id, request_id_var

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Headers only a proxy in front of us may set; from anyone else they are dropped.
PROXY_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def is_trusted_proxy(address: str) -> bool:
    """Is ``address`` one of TRUSTED_PROXIES (addresses or CIDRs)?"""
    ip = _ip(address or "")
    return ip is not None and any(ip in net for net in settings.TRUSTED_PROXY_NETWORKS)


class TrustedProxyMiddleware:
    """Believe X-Forwarded-For / -Proto only from TRUSTED_PROXIES.

    From a trusted proxy, REMOTE_ADDR becomes the client: the right-most X-Forwarded-For
    hop that is not itself a trusted proxy (the original peer stays in
    ``SGPORTAL_PROXY_ADDR``). From anyone else, the forwarding headers are removed, so
    SECURE_PROXY_SSL_HEADER, the login limiter and allauth never see a forged one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        peer = meta.get("REMOTE_ADDR", "")
        if is_trusted_proxy(peer):
            client = peer
            hops = [h for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
            for hop in reversed(hops):
                ip = _ip(hop)
                if ip is None:
                    break  # a hop we cannot read: the last one we could is the client
                client = str(ip)
                if not is_trusted_proxy(client):
                    break
            meta["SGPORTAL_PROXY_ADDR"] = peer
            meta["REMOTE_ADDR"] = client
        else:
            for header in PROXY_HEADERS:
                meta.pop(header, None)
        return self.get_response(request)


class RequestIdMiddleware:
    """Tag each request with an id (X-Request-ID when sane, else a new one) for the audit log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SAFE_ID.match(incoming) else new_request_id()
        token = request_id_var.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


def _regex_params(request) -> list[tuple[str, str]]:
    return [
        (key, value)
        for key, values in request.GET.lists()
        if key.endswith(("__regex", "__iregex"))
        for value in values
    ]


class AdminLookupGuardMiddleware:
    """A regex lookup in an admin changelist's query (``?name__regex=(``) that does not
    compile is the client's mistake: 400, not a database error and a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._is_admin(request):
            for key, value in _regex_params(request):
                try:
                    re.compile(value)
                except (re.error, OverflowError, RecursionError):
                    return HttpResponseBadRequest(f"Invalid regular expression in {key}.")
        return self.get_response(request)

    def process_exception(self, request, exception):
        # What Python's re accepts and the database refuses (PostgreSQL's dialect differs).
        if isinstance(exception, DataError) and self._is_admin(request) and _regex_params(request):
            log.info("admin regex lookup refused by the database: %s", exception)
            return HttpResponseBadRequest("Invalid regular expression in the filter.")
        return None

    @staticmethod
    def _is_admin(request) -> bool:
        return request.method in ("GET", "HEAD") and request.path.startswith("/admin/")
