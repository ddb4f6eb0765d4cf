"""seed_demo sets public passwords, so it refuses to run outside the demo (SGPORTAL_DEMO)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from sgportal.models import AuditEntry, Membership, Tenant
from tests.factories import UserFactory


def test_it_refuses_outside_the_demo_and_changes_nothing(db, settings):
    settings.SGPORTAL_DEMO = False
    admin = UserFactory(username="admin", is_staff=True)  # a real deployment's own admin
    hash_before = admin.password
    with pytest.raises(CommandError, match="SGPORTAL_DEMO=1"):
        call_command("seed_demo")
    admin.refresh_from_db()
    assert admin.password == hash_before and not admin.check_password("sgportal-demo")
    assert not Tenant.objects.exists() and not Membership.objects.exists()
    assert not AuditEntry.objects.exists()


def test_it_seeds_the_demo_when_asked_to(db, settings):
    settings.SGPORTAL_DEMO = True
    call_command("seed_demo")
    # The demo requires a reason for every deny (the default): Slack's Deny opens the modal.
    assert Tenant.objects.get(slug="demo").deny_reason_required is True
    reviewer = Membership.objects.get(user__username="reviewer").user
    assert reviewer.check_password("sgportal-demo")


def test_the_demo_has_a_policy_an_exception_and_history_for_the_dashboard(
    db, settings, client, outsider
):
    from approvals.models import Decision
    from approvals.policy.models import PolicyException, PolicyRule
    from approvals.queries import dashboard
    from ingestion.models import SecurityGroupChange
    from remediation.models import RevertAttempt

    settings.SGPORTAL_DEMO = True
    call_command("seed_demo")
    tenant = Tenant.objects.get(slug="demo")
    rules = list(PolicyRule.objects.filter(tenant=tenant).order_by("position"))
    assert [r.action for r in rules] == ["auto_approve", "review", "review"]
    assert rules[1].deadline_minutes == 2 and rules[1].default_outcome == "revert"
    exception = PolicyException.objects.get(tenant=tenant)
    assert exception.owner.username == "admin" and exception.match == {
        "peer_cidrs": ["203.0.113.0/24"]
    }
    history = SecurityGroupChange.objects.filter(tenant=tenant)
    made = history.count()
    assert made >= 40  # two weeks of changes, every one decided
    assert not history.filter(status="pending").exists()
    assert Decision.objects.filter(change__tenant=tenant).count() == made
    assert RevertAttempt.objects.filter(change__tenant=tenant, outcome="reverted").exists()

    reviewer = Membership.objects.get(user__username="reviewer").user
    dash = dashboard(reviewer)
    assert sum(day["total"] for day in dash.per_day) == made
    assert sum(1 for day in dash.per_day if day["total"]) >= 10  # spread over the fortnight
    assert dash.decisions_counted > 0 and dash.median_decision
    client.force_login(reviewer)
    page = client.get("/dashboard/").content.decode()
    assert "Median time to decision" in page and f">{dash.pending}<" in page
    # The outsider's dashboard shows none of it.
    assert sum(day["total"] for day in dashboard(outsider).per_day) == 0

    call_command("seed_demo")  # again: the same rows, no second history
    assert SecurityGroupChange.objects.filter(tenant=tenant).count() == made
    assert PolicyRule.objects.filter(tenant=tenant).count() == 3
    assert PolicyException.objects.filter(tenant=tenant).count() == 1
