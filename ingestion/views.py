"""Inbound endpoint of ingestion: the EventBridge API destination (thin; see eventbridge.py)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ingestion import eventbridge
from ingestion.eventbridge import Rejected

HEADER = "X-SGPortal-Secret"


def _refuse(rejected: Rejected) -> JsonResponse:
    eventbridge.count_rejection(rejected.reason)
    return JsonResponse(
        {"error": rejected.reason, "detail": rejected.detail}, status=rejected.status
    )


@csrf_exempt
@require_POST
def eventbridge_ingest(request: HttpRequest, tenant: str) -> JsonResponse:
    """POST one EventBridge event or a JSON array of them, with the tenant's secret."""
    try:
        source = eventbridge.authenticate(tenant, request.headers.get(HEADER, ""))
        declared = request.headers.get("Content-Length") or "0"
        if not declared.isdigit() or int(declared) > eventbridge.MAX_BODY:
            raise Rejected(413, "too_large", f"body over {eventbridge.MAX_BODY} bytes")
        events = eventbridge.events_of(request.read(eventbridge.MAX_BODY + 1))
    except Rejected as rejected:
        return _refuse(rejected)
    received = eventbridge.receive(source, events)
    return JsonResponse(
        {
            "received": received.events,
            "skipped": received.skipped,
            "new": received.result.new,
            "duplicates": received.result.duplicates,
        }
    )
