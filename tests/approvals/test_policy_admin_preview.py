"""Issue 15 item 5: the preview of a rule in admin before it is saved — the same
``simulate`` as ``policy_simulate``, shown on the rule's form, nothing written."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from approvals.policy.io import simulate
from approvals.policy.models import PolicyRule
from sgportal.models import AuditEntry
from tests.approvals.factories import ChangeFactory
from tests.approvals.test_policy_rules import https_from


@pytest.fixture
def stored(tenant, account, other_account):
    """The tenant's live rule (review everything), three recent changes, one from 30 days
    ago, and a recent change of another tenant."""
    rule = PolicyRule.objects.create(tenant=tenant, position=10, name="all", match={})
    recent = [
        ChangeFactory(account=account),  # tcp/22 from the world
        ChangeFactory(account=account),
        ChangeFactory(account=account, rules=https_from()),  # tcp/443 from 10/8
    ]
    old = ChangeFactory(account=account)
    type(old).objects.filter(pk=old.pk).update(ingested_at=timezone.now() - dt.timedelta(days=30))
    theirs = ChangeFactory(account=other_account)
    return {"rule": rule, "recent": recent, "old": old, "theirs": theirs}


def form(tenant, **values) -> dict:
    data = {
        "tenant": tenant.pk,
        "position": 10,
        "name": "all",
        "enabled": "on",
        "match": "{}",
        "severity": 0,
        "action": "review",
        "slack_channel": "",
        "reviewer_group": "",
        "deadline_minutes": "",
        "default_outcome": "escalate",
        "escalation_channel": "",
        "escalation_group": "",
        "notify_limit": 10,
        "notify_window_s": 60,
    }
    data.update(values)
    return data


def _unchanged(rule) -> None:
    fresh = PolicyRule.objects.get(pk=rule.pk)
    assert (fresh.action, fresh.match) == (rule.action, rule.match)
    assert not AuditEntry.objects.filter(object_type="approvals.PolicyRule").exists()


def test_preview_shows_what_the_edited_rule_would_decide_without_saving(
    client, admin_user, tenant, stored
):
    rule = stored["rule"]
    client.force_login(admin_user)
    url = f"/admin/approvals/policyrule/{rule.pk}/change/"
    page = client.get(url)
    assert b'name="_preview"' in page.content
    data = form(tenant, action="auto_revert", match='{"ports": "22"}')
    response = client.post(url, {**data, "_preview": "Preview", "_preview_days": "7"})
    assert response.status_code == 200
    preview = response.context["adminform"].form.preview
    ssh = {c.pk for c in stored["recent"][:2]}
    https = stored["recent"][2].pk
    assert set(preview.differences) == {*ssh, https}
    assert all(preview.differences[pk] == ("review", "all", "auto_revert", "all") for pk in ssh)
    # The https change no longer matches: still reviewed, but by the built-in rules now.
    live_action, live_rule, action, by = preview.differences[https]
    assert (live_action, live_rule, action) == ("review", "all", "review") and by != "all"
    assert preview.matched == 2
    seen = {row[0] for row in preview.edited.rows}
    assert seen == {c.pk for c in stored["recent"]}  # not the old one, not another tenant's
    assert stored["theirs"].pk not in seen and stored["old"].pk not in seen
    text = response.content.decode()
    assert "Preview — not saved" in text
    for pk in ssh:
        assert f'href="/changes/{pk}/"' in text
    _unchanged(rule)  # nothing saved, nothing audited
    # The preview is what the policy decides once the rule is saved.
    assert client.post(url, data).status_code == 302
    live = simulate(tenant, days=7)
    assert live.rows == preview.edited.rows


def test_preview_over_more_days_includes_older_changes(client, admin_user, tenant, stored):
    client.force_login(admin_user)
    url = f"/admin/approvals/policyrule/{stored['rule'].pk}/change/"
    data = form(tenant, action="auto_approve")
    response = client.post(url, {**data, "_preview": "1", "_preview_days": "31"})
    preview = response.context["adminform"].form.preview
    assert preview.days == 31 and len(preview.edited.rows) == 4
    assert preview.edited.by_action["auto_approve"] == 4
    _unchanged(stored["rule"])


def test_preview_of_a_new_rule_creates_nothing(client, admin_user, tenant, stored):
    client.force_login(admin_user)
    data = form(tenant, name="first", position=1, action="auto_approve", match='{"ports": "443"}')
    response = client.post(
        "/admin/approvals/policyrule/add/", {**data, "_preview": "1", "_preview_days": "7"}
    )
    assert response.status_code == 200
    preview = response.context["adminform"].form.preview
    https = stored["recent"][2].pk
    assert preview.differences == {https: ("review", "all", "auto_approve", "first")}
    assert PolicyRule.objects.filter(tenant=tenant).count() == 1


@pytest.mark.parametrize("days", ["0", "91", "x", ""])
def test_a_bad_number_of_days_is_named(client, admin_user, tenant, stored, days):
    client.force_login(admin_user)
    url = f"/admin/approvals/policyrule/{stored['rule'].pk}/change/"
    response = client.post(url, {**form(tenant), "_preview": "1", "_preview_days": days})
    assert response.status_code == 200
    assert b"Preview: days must be a whole number, 1 to 90." in response.content
    assert response.context["adminform"].form.preview is None
    _unchanged(stored["rule"])


def test_an_invalid_rule_gets_its_form_error_and_no_preview(client, admin_user, tenant, stored):
    client.force_login(admin_user)
    url = f"/admin/approvals/policyrule/{stored['rule'].pk}/change/"
    data = form(tenant, match='{"ports": "99999"}')
    response = client.post(url, {**data, "_preview": "1", "_preview_days": "7"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["match"]
    assert response.context["adminform"].form.preview is None
    _unchanged(stored["rule"])


def test_an_outsider_and_a_viewer_cannot_preview_our_rule(client, outsider, viewer, tenant, stored):
    url = f"/admin/approvals/policyrule/{stored['rule'].pk}/change/"
    data = {**form(tenant, action="auto_revert"), "_preview": "1", "_preview_days": "7"}
    for user in (outsider, viewer):
        client.force_login(user)
        response = client.post(url, data)
        assert response.status_code in (302, 403, 404)
        assert b"Preview" not in response.content
    # The outsider's own tenant cannot be given our rules either: the add form refuses it.
    client.force_login(outsider)
    response = client.post("/admin/approvals/policyrule/add/", data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["tenant"]
    assert response.context["adminform"].form.preview is None
    _unchanged(stored["rule"])
