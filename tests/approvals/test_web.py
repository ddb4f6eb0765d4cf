"""The web door: the queue at /changes/, the detail page, and its decision buttons."""

from __future__ import annotations

import pytest

from approvals.actions import decide
from approvals.models import Decision
from ingestion.models import ChangeStatus
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.factories import ChangeFactory


@pytest.fixture
def foreign(other_account):
    return ChangeFactory(account=other_account, group_id="sg-0f0reign0000000")


def detail(change):
    return f"/changes/{change.pk}/"


def test_the_queue_needs_login(client, change):
    assert client.get("/changes/").status_code == 302
    assert client.get(detail(change)).status_code == 302


def test_the_queue_lists_only_the_users_tenants_newest_first(client, viewer, account, foreign):
    first = ChangeFactory(account=account, group_id="sg-0first00000000")
    second = ChangeFactory(account=account, group_id="sg-0second0000000")
    client.force_login(viewer)
    page = client.get("/changes/").content.decode()
    assert "sg-0second0000000" in page and "sg-0first00000000" in page
    assert page.index("sg-0second0000000") < page.index("sg-0first00000000")
    assert "sg-0f0reign0000000" not in page
    assert "tcp/22 from 0.0.0.0/0" in page
    assert first.pk != second.pk


def test_the_outsider_sees_none_of_this_tenants_changes(client, outsider, change, foreign):
    client.force_login(outsider)
    page = client.get("/changes/").content.decode()
    assert "sg-0f0reign0000000" in page
    assert change.group_id not in page


def test_the_queue_filters_by_status(client, viewer, account):
    ChangeFactory(account=account, group_id="sg-0pending000000")
    ChangeFactory(account=account, group_id="sg-0info000000000", status=ChangeStatus.INFORMATIONAL)
    client.force_login(viewer)
    page = client.get("/changes/?status=informational").content.decode()
    assert "sg-0info000000000" in page and "sg-0pending000000" not in page


def test_the_detail_page_shows_the_change_in_words(client, viewer, change, approver):
    decide(change, verdict="approve", actor=approver, via="slack", reason="expected")
    client.force_login(viewer)
    page = client.get(detail(change)).content.decode()
    assert "tcp/22 from 0.0.0.0/0" in page
    assert "prod-payments (111111111111)" in page
    assert "bob-approver" in page and "expected" in page and "Slack" in page
    assert "open to the world on an admin port" in page.lower()


def test_absent_and_not_yours_are_the_same_404(client, outsider, change):
    client.force_login(outsider)
    assert client.get(detail(change)).status_code == 404
    assert client.get("/changes/999999/").status_code == 404
    response = client.post(f"{detail(change)}decide/", {"verdict": "approve"})
    assert response.status_code == 404
    assert not Decision.objects.exists()


def test_a_viewer_sees_no_buttons_and_cannot_decide(client, viewer, change):
    client.force_login(viewer)
    assert b'name="verdict"' not in client.get(detail(change)).content
    response = client.post(f"{detail(change)}decide/", {"verdict": "deny"})
    assert response.status_code == 403
    assert not Decision.objects.exists()


def test_an_approver_decides_from_the_web(client, approver, change):
    client.force_login(approver)
    assert b'name="verdict"' in client.get(detail(change)).content
    response = client.post(f"{detail(change)}decide/", {"verdict": "deny", "reason": "not ok"})
    assert response.status_code == 302
    decision = Decision.objects.get()
    assert (decision.user, decision.via, decision.verdict, decision.reason) == (
        approver,
        "web",
        "deny",
        "not ok",
    )
    assert AuditEntry.objects.get(action=AuditAction.DECIDE).via == "web"
    page = client.get(detail(change)).content.decode()
    assert 'name="verdict"' not in page


def test_a_late_second_decision_shows_who_was_first(client, approver, admin_user, change):
    decide(change, verdict="approve", actor=admin_user, via="slack")
    client.force_login(approver)
    response = client.post(f"{detail(change)}decide/", {"verdict": "deny"}, follow=True)
    assert "already decided by alice-admin" in response.content.decode()
    assert Decision.objects.count() == 1


def test_an_unknown_verdict_is_a_bad_request(client, approver, change):
    client.force_login(approver)
    assert client.post(f"{detail(change)}decide/", {"verdict": "undo_revert"}).status_code == 400


def test_the_root_is_the_approval_queue(client, viewer):
    client.force_login(viewer)
    assert client.get("/").templates[0].name == "approvals/queue.html"
