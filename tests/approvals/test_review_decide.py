"""Security review of the decision doors: a reason is free text a person types (web form,
Slack modal), so one holding a NUL byte must still be recorded, not a server error that
leaves the change undecided. PostgreSQL cannot store a NUL in text; like ingestion, the
decision path removes it."""

from __future__ import annotations

import pytest

from approvals.models import Decision
from approvals.policy.models import PolicyException
from ingestion.models import ChangeStatus
from sgportal.models import AuditAction, AuditEntry
from sgportal.text import storable
from tests.api import assert_error, call, tokens_fixture  # noqa: F401
from tests.approvals.conftest import link, submit
from tests.approvals.factories import ChangeFactory


@pytest.mark.parametrize("verdict", ["approve", "deny"])
def test_a_nul_in_a_web_decision_reason_is_removed_and_the_decision_recorded(
    client, approver, outsider, account, verdict
):
    change = ChangeFactory(account=account)
    client.raise_request_exception = False
    client.force_login(outsider)  # another tenant's admin: the same 404 as ever
    url = f"/changes/{change.pk}/decide/"
    assert client.post(url, {"verdict": verdict, "reason": "a\x00b"}).status_code == 404
    client.force_login(approver)
    response = client.post(url, {"verdict": verdict, "reason": "SSH\x00 open"})
    assert response.status_code == 302  # was a 500
    decision = Decision.objects.get(change=change)
    assert (decision.verdict, decision.reason, decision.user) == (verdict, "SSH open", approver)
    entry = AuditEntry.objects.get(action=AuditAction.DECIDE)
    assert entry.after["reason"] == "SSH open"


def test_a_nul_in_the_allow_for_30_days_reason_is_removed(client, approver, outsider, account):
    change = ChangeFactory(account=account)
    client.raise_request_exception = False
    client.force_login(outsider)
    assert client.post(f"/changes/{change.pk}/allow/", {"reason": "x"}).status_code == 404
    client.force_login(approver)
    response = client.post(f"/changes/{change.pk}/allow/", {"reason": "office\x00 VPN"})
    assert response.status_code == 302  # was a 500
    assert PolicyException.objects.get(from_change=change).reason == "office VPN"
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED


def test_a_nul_in_bulk_approve_reason_is_removed(client, approver, outsider, account):
    change = ChangeFactory(account=account)
    client.raise_request_exception = False
    client.force_login(outsider)
    client.post("/changes/approve/", {"change": [str(change.pk)], "reason": "x"})
    assert not Decision.objects.exists()
    client.force_login(approver)
    response = client.post("/changes/approve/", {"change": [str(change.pk)], "reason": "ok\x00!"})
    assert response.status_code == 302  # was a 500
    assert Decision.objects.get(change=change).reason == "ok!"


def test_a_nul_in_the_slack_deny_modal_reason_is_removed(client, approver, message, slack_tenant):
    link(approver, slack_tenant, "U0BOB0001")
    client.raise_request_exception = False
    response = submit(
        client, {"change": message.change_id, "token": message.action_token}, "no\x00pe"
    )
    assert response.status_code == 200  # was a 500
    assert response.json() == {"response_action": "clear"}
    decision = Decision.objects.get(change=message.change)
    assert (decision.verdict, decision.reason) == ("deny", "nope")


def test_an_api_reason_with_a_nul_or_a_lone_surrogate_is_a_clear_400_and_records_nothing(
    client, tokens, account
):
    """JSON can carry what a form cannot: an unpaired "\\ud800" escape. The API's
    serializer names both characters; nothing is decided, nothing is lost."""
    change = ChangeFactory(account=account)
    url = f"/api/v1/changes/{change.pk}/decision/"
    reason = "port\ud800 22\x00 open"
    outsider = call(client, "post", url, tokens.outsider, {"verdict": "deny", "reason": reason})
    assert_error(outsider, 404, "not_found")
    response = call(client, "post", url, tokens.decide, {"verdict": "deny", "reason": reason})
    assert_error(response, 400, "validation_error")
    assert response.json()["error"]["fields"]["reason"] == [
        "Null characters are not allowed.",
        "Surrogate characters are not allowed: U+D800.",
    ]
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING
    assert not Decision.objects.filter(change=change).exists()


def test_storable_text_removes_nuls_and_replaces_lone_surrogates():
    """The one rule for text that goes to PostgreSQL (a Slack modal's JSON can carry a lone
    surrogate into decide())."""
    assert storable("a\x00b\ud800c\U0001f512") == "ab\ufffdc\U0001f512"
