"""POST /slack/interactions/: Slack's interactivity request URL (signed, answers at once).

Button clicks (``block_actions``) and the deny-reason modal's submission
(``view_submission``) come here. Message updates and ephemeral notes go through Celery
after commit, so the answer comes well inside Slack's 3 seconds; the one Slack call made
while Slack waits is ``views.open`` for the reason modal (its trigger lives 3 s), capped
at ``VIEWS_OPEN_TIMEOUT_S``.
"""

from __future__ import annotations

import json

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from approvals.slack.blocks import REASON_BLOCK, notice_view
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
BUSY_SUBMIT = "sgportal is busy with this change right now. Submit again in a moment."


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
    if isinstance(payload, dict) and payload.get("type") == "view_submission":
        return _submission_response(reply)
    body: dict = {"outcome": reply.outcome}
    if reply.text:
        # block_actions ignore the response body, so the note also goes via response_url.
        response_url = payload.get("response_url") if isinstance(payload, dict) else None
        if isinstance(response_url, str) and response_url_allowed(response_url):
            publish.enqueue("approvals.tasks.send_ephemeral", [response_url, reply.text])
        body.update(response_type="ephemeral", replace_original=False, text=reply.text)
    return JsonResponse(body)


def _submission_response(reply: Reply) -> HttpResponse:
    """A modal submission's answer: close it, show field errors, or say why not recorded."""
    if reply.outcome == "ignored":
        return HttpResponse(status=200)  # an empty 200 closes a view that is not ours
    if reply.errors:
        return JsonResponse({"response_action": "errors", "errors": reply.errors})
    if reply.outcome == "busy":  # keep the modal and its reason: submitting again works
        return JsonResponse({"response_action": "errors", "errors": {REASON_BLOCK: BUSY_SUBMIT}})
    if reply.text:
        return JsonResponse({"response_action": "update", "view": notice_view(reply.text)})
    return JsonResponse({"response_action": "clear"})
