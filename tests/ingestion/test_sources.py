"""The tenant's sources: edited as inlines by its admin (audited), reconciliation figures,
and their read roles in the role check (issue 11 item 3, issue 12 items 1 and 4)."""

from __future__ import annotations

import pytest

from ingestion.models import LakeSource, Source, TrailSource
from ingestion.parser import parse_record
from ingestion.sources import only_delivered_by, record_delivery
from ingestion.store import store_changes
from sgportal import aws_roles
from sgportal.models import AuditEntry
from tests.admin_forms import changeform_data
from tests.ingestion.helpers import realworld


def stored(tenant, numbers, source):
    records = [realworld(n) for n in numbers]
    return store_changes(tenant, [parse_record(r) for r in records], source=source)


def test_it_counts_what_only_one_source_delivered(tenant, other_tenant):
    stored(tenant, [1, 2, 3], Source.TRAIL)
    stored(tenant, [2, 3, 4], Source.LAKE)  # 2 and 3 also delivered by Lake
    stored(other_tenant, [5, 6], Source.TRAIL)  # another tenant's never count
    assert only_delivered_by(tenant.pk) == {
        "lake": 1,  # 4
        "eventbridge": 0,
        "trail": 1,  # 1
        "manual": 0,
    }


def test_a_tenant_admin_edits_the_lake_source_inline_and_it_is_audited(client, admin_user, tenant):
    TrailSource.objects.create(tenant=tenant, enabled=False)
    record_delivery(TrailSource, tenant.pk, events=5, new=2)
    stored(tenant, [1], Source.TRAIL)
    client.force_login(admin_user)
    page = client.get(f"/admin/sgportal/tenant/{tenant.pk}/change/")
    assert b"only this source delivered" in page.content.lower()
    data = changeform_data(page)
    data.pop("slug", None), data.pop("active", None)
    data.update(
        {
            "lake_source-TOTAL_FORMS": "1",
            "lake_source-0-enabled": "on",
            "lake_source-0-event_data_store": "a1b2c3d4-0000-1111-2222-333344445555",
            "lake_source-0-region": "eu-west-1",
            "lake_source-0-watermark": "2020-01-01T00:00:00Z",  # read-only: ignored
        }
    )
    response = client.post(f"/admin/sgportal/tenant/{tenant.pk}/change/", data)
    assert response.status_code == 302, response.content[:3000]
    lake = LakeSource.objects.get(tenant=tenant)
    assert (lake.enabled, lake.region, lake.watermark) == (True, "eu-west-1", None)
    entry = AuditEntry.objects.get(tenant=tenant, object_type="ingestion.LakeSource")
    assert entry.after["event_data_store"] == "a1b2c3d4-0000-1111-2222-333344445555"
    trail = TrailSource.objects.get(tenant=tenant)
    assert (trail.events_delivered, trail.new_changes) == (5, 2)  # health is not a form field


def test_an_outsider_cannot_edit_our_sources_through_their_tenant_page(
    client, outsider, tenant, other_tenant
):
    client.force_login(outsider)
    data = {
        "name": "Globex",
        "default_policy": "review",
        "decision_timeout_minutes": "60",
        "lake_source-TOTAL_FORMS": "1",
        "lake_source-INITIAL_FORMS": "0",
        "lake_source-0-tenant": str(tenant.pk),  # aiming at Acme
        "lake_source-0-event_data_store": "a1b2c3d4-0000-1111-2222-333344445555",
        "lake_source-0-region": "eu-west-1",
    }
    for suffix in ("eventbridge_source", "trail_source"):
        data.update({f"{suffix}-TOTAL_FORMS": "0", f"{suffix}-INITIAL_FORMS": "0"})
    client.post(f"/admin/sgportal/tenant/{tenant.pk}/change/", data)
    assert not LakeSource.objects.filter(tenant=tenant).exists()
    # On its own page, an inline naming Acme is refused by the inline formset itself.
    response = client.post(f"/admin/sgportal/tenant/{other_tenant.pk}/change/", data)
    assert response.status_code == 200
    errors = [str(e) for e in response.context["errors"]]
    assert any("did not match the parent instance" in e for e in errors), errors
    assert not LakeSource.objects.exists()


@pytest.mark.django_db
def test_the_role_check_covers_the_lake_and_trail_read_roles(tenant, monkeypatch):
    checked = []
    monkeypatch.setattr(
        aws_roles, "check_role", lambda t, arn, parent=None: (checked.append(arn) or arn, None)
    )
    LakeSource.objects.create(tenant=tenant, read_role_arn="arn:aws:iam::333333333333:role/L")
    TrailSource.objects.create(tenant=tenant, read_role_arn="arn:aws:iam::333333333333:role/T")
    aws_roles.check_tenant_roles(tenant)
    assert checked[:2] == ["arn:aws:iam::333333333333:role/L", "arn:aws:iam::333333333333:role/T"]
