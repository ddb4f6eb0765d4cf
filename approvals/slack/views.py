"""POST /slack/interactions/: Slack's interactivity request URL (signed, answers at once).

No Slack API call happens here: message updates and ephemeral notes go through Celery
after commit, so the answer comes well inside Slack's 3 seconds.
"""

from __future__ import annotations

import json

from django.db import OperationalError
from django.http import HttpRequest, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from approvals.slack.interactions import Reply, handle_interaction
from approvals.slack.links import response_url_allowed
from approvals.slack.verify import slack_signed
from sgportal import db, publish

# Slack gives up after 3 s: a click never waits longer than this for a row another
# transaction holds (the change, the audit chain head); it is told to click again instead.
LOCK_TIMEOUT = "2s"
BUSY = (
    "sgportal is busy with this change right now, so nothing was recorded. Click again in a moment."
)
LOCK_NOT_AVAILABLE = "55P03"


def _handle_within_deadline(payload: dict) -> Reply:
    try:
        with db.lock_timeout(LOCK_TIMEOUT):
            return handle_interaction(payload)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        return Reply("busy", BUSY)


@csrf_exempt
@require_POST
@slack_signed
def interactions(request: HttpRequest) -> JsonResponse:
    try:
        payload = json.loads(QueryDict(request.body, encoding="utf-8")["payload"])
    except (KeyError, ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "bad_payload"}, status=400)
    reply = _handle_within_deadline(payload)
    body: dict = {"outcome": reply.outcome}
    if reply.text:
        # block_actions ignore the response body, so the note also goes via response_url.
        response_url = payload.get("response_url") if isinstance(payload, dict) else None
        if isinstance(response_url, str) and response_url_allowed(response_url):
            publish.enqueue("approvals.tasks.send_ephemeral", [response_url, reply.text])
        body.update(response_type="ephemeral", replace_original=False, text=reply.text)
    return JsonResponse(body)
