"""POST /slack/interactions/: Slack's interactivity request URL (signed, answers at once).

No Slack API call happens here: message updates and ephemeral notes go through Celery
after commit, so the answer comes well inside Slack's 3 seconds.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from approvals import tasks
from approvals.slack.interactions import handle_interaction
from approvals.slack.links import response_url_allowed
from approvals.slack.verify import slack_signed


@csrf_exempt
@require_POST
@slack_signed
def interactions(request: HttpRequest) -> JsonResponse:
    try:
        payload = json.loads(QueryDict(request.body, encoding="utf-8")["payload"])
    except (KeyError, ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "bad_payload"}, status=400)
    reply = handle_interaction(payload)
    body: dict = {"outcome": reply.outcome}
    if reply.text:
        # block_actions ignore the response body, so the note also goes via response_url.
        response_url = payload.get("response_url") if isinstance(payload, dict) else None
        if isinstance(response_url, str) and response_url_allowed(response_url):
            tasks.send_ephemeral.delay(response_url, reply.text)
        body.update(response_type="ephemeral", replace_original=False, text=reply.text)
    return JsonResponse(body)
