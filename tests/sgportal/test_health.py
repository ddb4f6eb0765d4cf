"""/healthz answers for the database and the broker; /metrics speaks Prometheus text."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sgportal.audit import record_audit
from sgportal.models import AuditAction


@pytest.mark.postgres  # needs the Redis that `make test` starts
def test_healthz_is_ok_when_database_and_broker_answer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_healthz_is_503_when_the_broker_is_down(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert "Error" in body["checks"]["broker"]


def test_healthz_is_503_when_the_database_is_down(client, db, monkeypatch):
    from django.db import OperationalError

    from sgportal import views

    class DownConnection:
        def cursor(self):
            raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(views, "connection", DownConnection())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "could not connect" in response.json()["checks"]["database"]


def test_metrics_are_prometheus_text(client, tenant, other_tenant):
    record_audit(tenant, AuditAction.UPDATE, actor="x", object_type="t")
    record_audit(tenant, AuditAction.UPDATE, actor="x", object_type="t")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    tenants = {s.labels["active"]: s.value for s in families["sgportal_tenants"].samples}
    assert tenants == {"true": 2.0, "false": 0.0}
    audit = {s.labels["tenant"]: s.value for s in families["sgportal_audit_entries"].samples}
    assert audit == {"acme": 2.0}


def test_requests_carry_a_request_id_into_the_audit_log(client, admin_user, account):
    client.force_login(admin_user)
    response = client.post(
        f"/admin/sgportal/awsaccount/{account.pk}/change/",
        {
            "tenant": account.tenant_id,
            "account_id": account.account_id,
            "name": "renamed",
            "regions": "[]",
            "active": "on",
        },
        headers={"X-Request-ID": "req-1234567890"},
    )
    assert response.status_code == 302
    assert response["X-Request-ID"] == "req-1234567890"
    from sgportal.models import AuditEntry

    assert AuditEntry.objects.get(object_type="sgportal.AwsAccount").request_id == "req-1234567890"
