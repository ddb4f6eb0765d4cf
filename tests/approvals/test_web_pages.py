"""Dashboard, audit log and ingestion status pages (issue 13 items 4 and 5)."""

from __future__ import annotations

import datetime as dt

import time_machine

from approvals.actions import decide
from ingestion.models import ChangeStatus, LakeSource, PollRun, SecurityGroupChange
from remediation.models import RevertAttempt
from sgportal.audit import record_audit
from sgportal.models import AuditAction
from tests.approvals.factories import ChangeFactory

NOW = dt.datetime(2026, 9, 20, 12, 0, tzinfo=dt.UTC)


@time_machine.travel(NOW, tick=False)
def test_the_dashboard_counts_only_the_users_tenants(
    client, viewer, approver, account, other_account
):
    waiting = ChangeFactory(account=account, group_id="sg-0wait000000000")
    SecurityGroupChange.objects.filter(pk=waiting.pk).update(
        ingested_at=NOW - dt.timedelta(hours=5)
    )
    quick = ChangeFactory(account=account)
    SecurityGroupChange.objects.filter(pk=quick.pk).update(ingested_at=NOW - dt.timedelta(hours=1))
    quick.refresh_from_db()
    decide(quick, verdict="deny", actor=approver, via="web", reason="no")
    RevertAttempt.objects.create(
        change=quick,
        status="failed",
        outcome="revert_failed",
        actor_name="x",
        started_at=NOW,
        finished_at=NOW,
    )
    for _ in range(4):
        ChangeFactory(account=other_account, actor_arn="arn:aws:iam::999999999999:user/globex-dev")
    client.force_login(viewer)
    response = client.get("/dashboard/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in page and "<caption>Changes per day by severity</caption>" in page
    assert f"/changes/{waiting.pk}/" in page and "waiting 5 h" in page
    assert "1 decision by people" in page and "1 h" in page
    assert 'big error">1<' in page  # one revert failure this week
    assert "globex-dev" not in page and "globex-prod" not in page
    assert "prod-payments (111111111111)" in page


def test_the_audit_log_is_for_approvers_and_admins_of_the_tenant(
    client, viewer, approver, outsider, tenant, other_tenant
):
    record_audit(tenant, AuditAction.UPDATE, actor="x", object_type="t", object_repr="acme-thing")
    record_audit(
        other_tenant, AuditAction.UPDATE, actor="x", object_type="t", object_repr="globex-x"
    )
    client.force_login(viewer)
    assert client.get("/audit/").status_code == 403
    client.force_login(approver)
    page = client.get("/audit/").content.decode()
    assert "acme-thing" in page and "globex-x" not in page
    assert "acme-thing" not in client.get("/audit/?action=decide").content.decode()
    verified = client.get("/audit/?verify=1").content.decode()
    assert "intact" in verified and "Globex" not in verified
    client.force_login(outsider)
    page = client.get(f"/audit/?tenant={tenant.pk}").content.decode()
    assert "acme-thing" not in page


def test_the_audit_log_lists_newest_first(client, approver, tenant):
    for name in ("first-entry", "second-entry"):
        record_audit(tenant, AuditAction.UPDATE, actor="x", object_type="t", object_repr=name)
    client.force_login(approver)
    page = client.get("/audit/").content.decode()
    assert page.index("second-entry") < page.index("first-entry")


def test_the_ingestion_page_is_for_tenant_admins(
    client, admin_user, approver, outsider, tenant, account
):
    LakeSource.objects.create(tenant=tenant, watermark=NOW)
    PollRun.objects.create(
        tenant=tenant,
        window_start=NOW,
        window_end=NOW,
        started_at=NOW,
        status="failed",
        error="AccessDeniedException: lake role",
    )
    ChangeFactory(account=account, status=ChangeStatus.UNPARSEABLE)
    client.force_login(approver)
    assert client.get("/ingestion/status/").status_code == 403
    client.force_login(outsider)
    assert b"AccessDeniedException" not in client.get("/ingestion/status/").content
    client.force_login(admin_user)
    page = client.get("/ingestion/status/").content.decode()
    assert "AccessDeniedException: lake role" in page and "2026-09-20" in page


def test_the_ingestion_page_shows_each_source_and_what_only_it_delivered(
    client, admin_user, outsider, tenant, other_tenant
):
    from ingestion.models import EventBridgeSource, Source, TrailDeadLetter, TrailSource
    from ingestion.sources import record_delivery
    from tests.ingestion.test_sources import stored

    EventBridgeSource.objects.create(tenant=tenant, enabled=True)
    TrailSource.objects.create(tenant=tenant, enabled=True)
    TrailDeadLetter.objects.create(tenant=tenant, message_id="m", key="k", parked_at=NOW)
    record_delivery(EventBridgeSource, tenant.pk, events=3, new=3)
    stored(tenant, [1, 2, 3], Source.EVENTBRIDGE)
    stored(tenant, [2, 3], Source.TRAIL)
    TrailSource.objects.create(tenant=other_tenant, enabled=True)
    TrailDeadLetter.objects.create(tenant=other_tenant, message_id="x", key="y", parked_at=NOW)

    client.force_login(admin_user)
    page = client.get("/ingestion/status/").content.decode()
    rows = {
        label: page.split(f'<th scope="row">{label}</th>')[1].split("</tr>")[0]
        for label in ("CloudTrail Lake", "EventBridge", "Organization trail (S3)")
    }
    assert "not set up" in rows["CloudTrail Lake"]
    assert "<td>3</td><td>3</td><td>1</td>" in rows["EventBridge"]  # events, new, only here
    assert "1 dead letter" in rows["Organization trail (S3)"]
    assert "<td>0</td><td>0</td><td>0</td>" in rows["Organization trail (S3)"]
    client.force_login(outsider)  # Globex's admin: their own trail, nothing of ours
    page = client.get("/ingestion/status/").content.decode()
    assert f">{tenant.name}</h2>" not in page and "<td>3</td><td>3</td><td>1</td>" not in page
