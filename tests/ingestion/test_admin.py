"""Admin: changes (with parse errors) and poll runs, read-only and scoped to the tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from ingestion.models import PollRun, PollStatus, Source
from ingestion.models import SecurityGroupChange as Change
from ingestion.parser import parse_record, parse_text
from ingestion.store import store_changes
from tests.ingestion.helpers import record


def assert_hidden(detail) -> None:
    """Another tenant's object: not found, or sent back to the admin index."""
    assert detail.status_code in (302, 404)
    if detail.status_code == 302:
        assert detail.url == reverse("admin:index")


@pytest.fixture
def changes(tenant):
    store_changes(tenant, [parse_record(record(1)), parse_text("{broken")], source=Source.LAKE)
    return Change.objects.for_tenant(tenant)


@pytest.fixture
def poll_run(tenant):
    return PollRun.objects.create(
        tenant=tenant,
        window_start=datetime(2026, 9, 14, 8, 0, tzinfo=UTC),
        window_end=datetime(2026, 9, 14, 9, 0, tzinfo=UTC),
        query_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        status=PollStatus.FAILED,
        error="EXAMPLE: Table 'bogus' does not exist",
        started_at=timezone.now(),
    )


def test_a_tenant_admin_sees_changes_and_the_parse_error(client, admin_user, changes):
    client.force_login(admin_user)
    listing = client.get(reverse("admin:ingestion_securitygroupchange_changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2
    assert "sg-0a1b2c3d4e5f60718" in listing.content.decode()
    bad = changes.get(status="unparseable")
    detail = client.get(reverse("admin:ingestion_securitygroupchange_change", args=[bad.pk]))
    assert detail.status_code == 200
    assert "not JSON" in detail.content.decode()


def test_changes_are_read_only(client, admin_user, changes):
    client.force_login(admin_user)
    assert client.get(reverse("admin:ingestion_securitygroupchange_add")).status_code == 403
    change = changes.first()
    url = reverse("admin:ingestion_securitygroupchange_change", args=[change.pk])
    client.post(url, {"status": "approved"})
    change.refresh_from_db()
    assert change.status != "approved"
    delete = reverse("admin:ingestion_securitygroupchange_delete", args=[change.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Change.objects.filter(pk=change.pk).exists()


def test_an_outsider_never_sees_the_tenants_changes(client, outsider, changes):
    client.force_login(outsider)
    listing = client.get(reverse("admin:ingestion_securitygroupchange_changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 0
    assert "Acme Corp" not in listing.content.decode()  # not even in a filter
    assert "sg-0a1b2c3d4e5f60718" not in listing.content.decode()
    detail = client.get(
        reverse("admin:ingestion_securitygroupchange_change", args=[changes.first().pk])
    )
    assert_hidden(detail)


def test_a_tenant_admin_sees_poll_runs_with_their_error(client, admin_user, poll_run):
    client.force_login(admin_user)
    listing = client.get(reverse("admin:ingestion_pollrun_changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert "Failed" in listing.content.decode()
    detail = client.get(reverse("admin:ingestion_pollrun_change", args=[poll_run.pk]))
    assert "does not exist" in detail.content.decode()
    assert client.get(reverse("admin:ingestion_pollrun_add")).status_code == 403


def test_an_outsider_never_sees_the_tenants_poll_runs(client, outsider, poll_run):
    client.force_login(outsider)
    listing = client.get(reverse("admin:ingestion_pollrun_changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 0
    assert "Acme Corp" not in listing.content.decode()
    detail = client.get(reverse("admin:ingestion_pollrun_change", args=[poll_run.pk]))
    assert_hidden(detail)


def test_a_viewer_without_staff_gets_no_admin(client, viewer, poll_run):
    client.force_login(viewer)
    response = client.get(reverse("admin:ingestion_pollrun_changelist"))
    assert response.status_code == 302
    assert "/login/" in response.url


def test_a_superuser_sees_every_tenant_and_can_filter_by_tenant(
    client, superuser, changes, other_tenant
):
    client.force_login(superuser)
    listing = client.get(reverse("admin:ingestion_securitygroupchange_changelist"))
    assert listing.context["cl"].result_count == 2
    assert "Acme Corp" in listing.content.decode()
