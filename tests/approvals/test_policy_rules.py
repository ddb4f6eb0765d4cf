"""Policy rules (issue 15): actions, severity, emergency mode, exceptions, reviewer groups on
every door, policy as code, and grouped notifications."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command

from approvals.models import Decision, SlackMessage
from approvals.policy.actions import set_emergency
from approvals.policy.deadlines import sweep
from approvals.policy.io import export_policy, simulate
from approvals.policy.models import (
    NotificationDigest,
    PolicyException,
    PolicyMatch,
    PolicyRule,
    ReviewerGroup,
)
from ingestion.models import ChangeStatus
from ingestion.rules import Rule
from sgportal import events
from sgportal.models import AuditAction, AuditEntry, Policy
from tests.api import call
from tests.approvals.conftest import click, link
from tests.approvals.factories import ChangeFactory, SlackMessageFactory
from tests.factories import MembershipFactory, UserFactory

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def https_from(cidr: str = "10.0.0.0/8", port: int = 443) -> list[dict]:
    rule = Rule(action="added", direction="ingress", protocol="tcp", from_port=port, to_port=port)
    data = rule.to_json()
    data["cidr_ipv4"] = cidr
    return [data]


def ingest(tenant, changes, capture):
    with capture(execute=True):
        events.changes_ingested.send(
            sender=None, tenant_id=tenant.pk, change_ids=[c.pk for c in changes]
        )
    for change in changes:
        change.refresh_from_db()


@pytest.fixture
def ingest_one(tenant, django_capture_on_commit_callbacks):
    def run(change):
        ingest(tenant, [change], django_capture_on_commit_callbacks)
        return change

    return run


# --- actions and severity ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "status", "verdict"),
    [
        ("review", ChangeStatus.PENDING, None),
        ("auto_approve", ChangeStatus.AUTO_APPROVED, "approve"),
        ("auto_revert", ChangeStatus.DENIED, "deny"),
        ("notify", ChangeStatus.AUTO_APPROVED, "approve"),
    ],
)
def test_each_action_does_what_the_rule_says(tenant, account, ingest_one, action, status, verdict):
    rule = PolicyRule.objects.create(
        tenant=tenant, name="prod", match={"accounts": [account.account_id]}, action=action
    )
    change = ingest_one(ChangeFactory(account=account))
    assert change.status == status
    match = PolicyMatch.objects.get(pk=change.pk)
    assert (match.rule_id, match.action) == (rule.pk, action)
    decision = Decision.objects.filter(change=change).first()
    assert (decision.verdict if decision else None) == verdict
    if decision:
        entry = AuditEntry.objects.get(action=AuditAction.DECIDE)
        assert entry.via == "policy" and "'prod'" in entry.actor_name
        assert f"#{rule.pk}" in json.dumps(entry.after)
    has_message = SlackMessage.objects.filter(change=change).exists()
    assert has_message is (action in ("review", "notify"))


def test_first_matching_rule_wins_and_sets_channel_and_severity(tenant, account, ingest_one):
    PolicyRule.objects.create(
        tenant=tenant,
        position=1,
        name="ssh",
        match={"ports": "22"},
        severity=3,
        slack_channel="CSSH",
    )
    PolicyRule.objects.create(
        tenant=tenant, position=2, name="all", match={}, action="auto_approve"
    )
    ssh = ingest_one(ChangeFactory(account=account))
    https = ingest_one(ChangeFactory(account=account, rules=https_from()))
    assert (ssh.status, ssh.severity) == (ChangeStatus.PENDING, 3)
    assert SlackMessage.objects.get(change=ssh).channel == "CSSH"
    assert https.status == ChangeStatus.AUTO_APPROVED
    assert https.severity == 2  # unrated rule: the built-in rating ("opens access")


def test_built_in_rules_rate_admin_ports_open_to_the_world_critical(tenant, account, ingest_one):
    ssh_world = ingest_one(ChangeFactory(account=account))
    https_world = ingest_one(ChangeFactory(account=account, rules=https_from("0.0.0.0/0")))
    spoke = ingest_one(ChangeFactory(account=account, via_spoke_role=True, rules=https_from()))
    assert (ssh_world.severity, https_world.severity, spoke.severity) == (4, 3, 5)


def test_the_revert_role_outside_sgportal_is_never_auto_approved(tenant, account, ingest_one):
    PolicyRule.objects.create(tenant=tenant, name="all", match={}, action="auto_approve")
    change = ingest_one(ChangeFactory(account=account, via_spoke_role=True))
    assert change.status == ChangeStatus.PENDING and change.severity == 5


def test_a_rule_saved_in_admin_applies_to_the_next_change(tenant, account, ingest_one):
    first = ingest_one(ChangeFactory(account=account))
    rule = PolicyRule.objects.create(tenant=tenant, name="all", match={}, action="auto_revert")
    second = ingest_one(ChangeFactory(account=account))
    rule.action = "auto_approve"
    rule.save()
    third = ingest_one(ChangeFactory(account=account))
    assert [first.status, second.status, third.status] == ["pending", "denied", "auto_approved"]


# --- emergency mode ------------------------------------------------------------------------


def test_emergency_mode_reverts_what_opens_the_world_until_switched_off(
    tenant, account, admin_user, ingest_one
):
    PolicyRule.objects.create(tenant=tenant, name="all", match={}, action="auto_approve")
    set_emergency(tenant, on=True, actor=admin_user, reason="incident 42")
    world = ingest_one(ChangeFactory(account=account))
    internal = ingest_one(ChangeFactory(account=account, rules=https_from()))
    set_emergency(tenant, on=False, actor=admin_user, reason="over")
    after = ingest_one(ChangeFactory(account=account))
    assert world.status == ChangeStatus.DENIED
    assert internal.status == ChangeStatus.AUTO_APPROVED
    assert after.status == ChangeStatus.AUTO_APPROVED
    switches = AuditEntry.objects.filter(object_type="approvals.TenantPolicy").order_by("pk")
    assert [e.after["emergency"] for e in switches] == [True, False]
    assert switches[0].after["why"] == "incident 42" and switches[0].actor_id == admin_user.pk


def test_emergency_mode_needs_a_reason(tenant, admin_user):
    with pytest.raises(ValueError):
        set_emergency(tenant, on=True, actor=admin_user, reason=" ")
    assert not AuditEntry.objects.exists()


# --- exceptions ----------------------------------------------------------------------------


def test_an_exception_approves_until_it_expires_then_it_comes_back(
    tenant, account, ingest_one, django_capture_on_commit_callbacks
):
    PolicyRule.objects.create(tenant=tenant, name="review", match={}, action="review")
    with time_machine.travel(NOW, tick=False):
        exc = PolicyException.objects.create(
            tenant=tenant,
            match={"group_ids": ["sg-0123456789abcdef0"]},
            reason="load test",
            owner_name="alice",
            expires_at=NOW + dt.timedelta(days=30),
        )
        allowed = ingest_one(ChangeFactory(account=account))
        other = ingest_one(ChangeFactory(account=account, group_id="sg-0other"))
    assert allowed.status == ChangeStatus.AUTO_APPROVED
    assert other.status == ChangeStatus.PENDING
    assert PolicyMatch.objects.get(pk=allowed.pk).exception_id == exc.pk
    with time_machine.travel(NOW + dt.timedelta(days=31), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            sweep(inline=True)
        late = ingest_one(ChangeFactory(account=account))
    allowed.refresh_from_db()
    assert allowed.status == ChangeStatus.PENDING  # back for review
    assert not Decision.objects.filter(change=allowed).exists()
    assert PolicyMatch.objects.get(pk=allowed.pk).rule.name == "review"
    assert late.status == ChangeStatus.PENDING
    assert AuditEntry.objects.filter(after__why="exception expired").count() == 1


def test_expiry_reopens_through_the_status_machine_and_leaves_other_tenants_alone(
    tenant,
    other_tenant,
    account,
    other_account,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    """The expiry is one ``claim()`` auto_approved -> pending per change, audited with the
    exception; an outsider tenant's exception (not expired) and its change are untouched,
    and a second sweep reopens nothing again."""
    from approvals.policy import deadlines

    claims = []
    real_claim = deadlines.claim

    def spy(change_id, sources, to, **kwargs):
        claims.append((change_id, tuple(sources), to))
        return real_claim(change_id, sources, to, **kwargs)

    monkeypatch.setattr(deadlines, "claim", spy)
    for who in (tenant, other_tenant):
        PolicyRule.objects.create(tenant=who, name="review", match={}, action="review")
    with time_machine.travel(NOW, tick=False):
        mine = PolicyException.objects.create(
            tenant=tenant,
            match={"group_ids": ["sg-0123456789abcdef0"]},
            reason="load test",
            owner_name="alice",
            expires_at=NOW + dt.timedelta(days=1),
        )
        theirs = PolicyException.objects.create(
            tenant=other_tenant,
            match={"group_ids": ["sg-0123456789abcdef0"]},
            reason="their load test",
            owner_name="bob",
            expires_at=NOW + dt.timedelta(days=60),
        )
        allowed = ChangeFactory(account=account)
        outsider = ChangeFactory(account=other_account)
        ingest(tenant, [allowed], django_capture_on_commit_callbacks)
        ingest(other_tenant, [outsider], django_capture_on_commit_callbacks)
    assert allowed.status == outsider.status == ChangeStatus.AUTO_APPROVED
    with time_machine.travel(NOW + dt.timedelta(days=2), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            first = sweep(inline=True)
        with django_capture_on_commit_callbacks(execute=True):
            second = sweep(inline=True)
    assert (first["exceptions_expired"], second["exceptions_expired"]) == (1, 0)
    assert claims == [(allowed.pk, (ChangeStatus.AUTO_APPROVED,), ChangeStatus.PENDING)]
    allowed.refresh_from_db()
    outsider.refresh_from_db()
    assert allowed.status == ChangeStatus.PENDING
    assert allowed.status_changed_at == NOW + dt.timedelta(days=2)
    assert outsider.status == ChangeStatus.AUTO_APPROVED
    assert PolicyMatch.objects.get(pk=outsider.pk).exception_id == theirs.pk
    assert Decision.objects.filter(change=outsider, via="policy").count() == 1
    theirs.refresh_from_db()
    assert theirs.expiry_handled_at is None
    entry = AuditEntry.objects.get(after__why="exception expired")
    assert entry.tenant_id == tenant.pk and entry.object_id == str(allowed.pk)
    assert entry.after["exception_id"] == mine.pk
    assert entry.after["exception_reason"] == "load test"
    assert entry.before["status"] == ChangeStatus.AUTO_APPROVED
    assert entry.before["decisions"][0]["verdict"] == "approve"
    assert not AuditEntry.objects.filter(tenant=other_tenant, after__why="exception expired")


def test_allow_this_for_30_days_from_the_change_page(client, tenant, account, approver, ingest_one):
    change = ingest_one(ChangeFactory(account=account))
    client.force_login(approver)
    response = client.post(f"/changes/{change.pk}/allow/", {"reason": "pen test"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED
    exc = PolicyException.objects.get()
    assert exc.owner == approver and exc.from_change == change
    assert exc.match["group_ids"] == [change.group_id] and exc.match["ports"] == "22"
    assert dt.timedelta(days=29) < exc.expires_at - change.ingested_at < dt.timedelta(days=31)
    twin = ingest_one(ChangeFactory(account=account))
    assert twin.status == ChangeStatus.AUTO_APPROVED


def test_a_viewer_cannot_allow(client, tenant, account, viewer, ingest_one):
    change = ingest_one(ChangeFactory(account=account))
    client.force_login(viewer)
    assert client.post(f"/changes/{change.pk}/allow/", {"reason": "x"}).status_code == 403
    assert not PolicyException.objects.exists()


# --- reviewer groups on every door ---------------------------------------------------------


@pytest.fixture
def grouped(tenant, account, ingest_one, approver):
    """A change routed to the 'db-team' group, which ``approver`` is not in."""
    member = UserFactory(username="dba")
    MembershipFactory(user=member, tenant=tenant, role="approver")
    group = ReviewerGroup.objects.create(tenant=tenant, name="db-team")
    group.members.add(member)
    PolicyRule.objects.create(tenant=tenant, name="db", match={}, reviewer_group=group)
    change = ingest_one(ChangeFactory(account=account))
    return {"change": change, "group": group, "member": member}


def _refused(change):
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING
    assert not Decision.objects.filter(change=change).exists()
    assert AuditEntry.objects.filter(action=AuditAction.DECISION_REFUSED).exists()


def test_web_door_enforces_the_reviewer_group(client, grouped, approver):
    change = grouped["change"]
    client.force_login(approver)  # the web asks a deny for a reason (issue 13)
    client.post(f"/changes/{change.pk}/decide/", {"verdict": "deny", "reason": "too open"})
    _refused(change)
    client.force_login(grouped["member"])
    client.post(f"/changes/{change.pk}/decide/", {"verdict": "deny", "reason": "too open"})
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED


def test_api_door_enforces_the_reviewer_group(client, grouped, tenant):
    from sgportal.api.tokens import create_token

    change = grouped["change"]
    token, text = create_token(tenant, name="soar", scopes=["read", "decide"], actor="t", via="cli")
    url = f"/api/v1/changes/{change.pk}/decision/"
    response = call(client, "post", url, text, {"verdict": "deny"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_in_reviewer_group"
    _refused(change)
    grouped["group"].api_tokens.add(token)
    body = {"verdict": "deny", "reason": "db port open"}
    assert call(client, "post", url, text, body).status_code == 201


def test_slack_door_enforces_the_reviewer_group(
    client, grouped, approver, tenant, slack_tenant, reasonless_deny
):
    change = grouped["change"]
    message = SlackMessage.objects.get(change=change)
    link(approver, tenant, "U0BOB0001")
    link(grouped["member"], tenant, "U0DBA0001")
    response = click(client, message.action_token, action="deny")
    assert response.json()["outcome"] == "refused"
    _refused(change)
    response = click(client, message.action_token, action="deny", user="U0DBA0001")
    assert response.json()["outcome"] == "decided"


# --- policy as code ------------------------------------------------------------------------


@pytest.fixture
def policy_file(tmp_path):
    def write(data) -> str:
        path = tmp_path / "policy.json"
        path.write_text(json.dumps(data))
        return str(path)

    return write


def test_import_of_a_bad_file_changes_nothing_and_names_the_error(tenant, policy_file):
    PolicyRule.objects.create(tenant=tenant, name="keep", match={}, action="review")
    before = export_policy(tenant)
    bad = {
        "rules": [
            {"name": "ok", "match": {}, "action": "auto_approve"},
            {"name": "ssh", "match": {"ports": "22-"}, "action": "auto_revert"},
            {"name": "grp", "reviewer_group": "nobody"},
        ]
    }
    with pytest.raises(CommandError) as caught:
        call_command("policy_import", "--tenant", tenant.slug, policy_file(bad))
    text = str(caught.value)
    assert 'rule 2 "ssh": match.ports' in text
    assert "rule 3 \"grp\": reviewer_group: no reviewer group 'nobody'" in text
    assert export_policy(tenant) == before
    assert not AuditEntry.objects.exists()


def test_import_replaces_the_rules_audited_as_a_diff(tenant, policy_file):
    PolicyRule.objects.create(tenant=tenant, name="old", match={}, action="review")
    good = {"rules": [{"name": "new", "match": {"world": True}, "action": "auto_revert"}]}
    call_command("policy_import", "--tenant", tenant.slug, policy_file(good), "--dry-run")
    assert list(PolicyRule.objects.values_list("name", flat=True)) == ["old"]
    call_command("policy_import", "--tenant", tenant.slug, policy_file(good))
    assert list(PolicyRule.objects.values_list("name", "action")) == [("new", "auto_revert")]
    entry = AuditEntry.objects.get()
    assert entry.after["diff"] == {"added": ["new"], "removed": ["old"], "changed": {}}
    out = io.StringIO()
    call_command("policy_export", "--tenant", tenant.slug, stdout=out)
    exported = json.loads(out.getvalue())
    assert exported["rules"][0]["name"] == "new"


def test_simulation_equals_what_the_live_policy_then_does(
    tenant, account, policy_file, django_capture_on_commit_callbacks
):
    changes = [
        ChangeFactory(account=account),
        ChangeFactory(account=account, rules=https_from()),
        ChangeFactory(account=account, rules=https_from("0.0.0.0/0")),
        ChangeFactory(account=account, via_spoke_role=True),
    ]
    data = {
        "rules": [
            {"name": "ssh", "match": {"ports": "22"}, "action": "auto_revert"},
            {"name": "internal", "match": {"peer_cidrs": ["10.0.0.0/8"]}, "action": "auto_approve"},
        ]
    }
    predicted = {row[0]: row[1] for row in simulate(tenant, days=1, data=data).rows}
    call_command("policy_import", "--tenant", tenant.slug, policy_file(data))
    ingest(tenant, changes, django_capture_on_commit_callbacks)
    live = dict(PolicyMatch.objects.values_list("pk", "action"))
    assert predicted == live
    assert set(live.values()) == {"auto_revert", "auto_approve", "review"}


# --- grouped notifications -----------------------------------------------------------------


def test_a_burst_from_one_actor_becomes_one_grouped_message(
    slack_tenant, account, slack, django_capture_on_commit_callbacks
):
    PolicyRule.objects.create(
        tenant=slack_tenant, name="tf", match={}, notify_limit=3, notify_window_s=3600
    )
    burst = [ChangeFactory(account=account, rules=https_from()) for _ in range(40)]
    with time_machine.travel(NOW, tick=False):
        ingest(slack_tenant, burst, django_capture_on_commit_callbacks)
    assert len(slack.calls_to("chat.postMessage")) == 3
    digest = NotificationDigest.objects.get()
    assert len(digest.change_ids) == 37
    later = time_machine.travel(NOW + dt.timedelta(hours=2), tick=False)
    with later, django_capture_on_commit_callbacks(execute=True):
        sweep(inline=True)
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 4 and "37 more changes" in posts[-1].body["text"]
    assert PolicyMatch.objects.count() == 40  # still one decision each, in the queue
    assert all(c.status == ChangeStatus.PENDING for c in burst)


def test_the_tenant_default_still_applies_without_rules(tenant, account, ingest_one):
    tenant.default_policy = Policy.AUTO_REVERT
    tenant.save()
    change = ingest_one(ChangeFactory(account=account, rules=https_from()))
    assert change.status == ChangeStatus.DENIED
    SlackMessageFactory  # noqa: B018 (imported for fixtures elsewhere)
