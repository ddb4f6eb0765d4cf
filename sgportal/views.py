"""Operational endpoints: /healthz and /metrics."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from sgportal import metrics

log = logging.getLogger(__name__)


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not ready"
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    # A fresh connection each time: a pooled one could hide a broker that just went away.
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@require_GET
@never_cache
def healthz(request) -> JsonResponse:
    """200 when the database and the broker answer, 503 naming the failing check otherwise.

    The answer says which dependency is down, never why: exception text names internal
    hosts and ports. The reason goes to the log.
    """
    checks = {"database": _check_database(), "broker": _check_broker()}
    ok = all(error is None for error in checks.values())
    if not ok:
        log.warning("healthz failing: %s", {k: v for k, v in checks.items() if v})
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": {name: ("down" if error else "ok") for name, error in checks.items()},
    }
    return JsonResponse(body, status=200 if ok else 503)


def metrics_token_ok(request) -> bool:
    """``Authorization: Bearer <METRICS_TOKEN>``, compared in constant time; never when unset."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), expected.encode("utf-8")
    )


@require_GET
@never_cache
def metrics_view(request) -> HttpResponse:
    """Prometheus text, to a scraper holding METRICS_TOKEN; 404 to everyone else."""
    if not metrics_token_ok(request):
        raise Http404
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
