"""/healthz says which dependency is down (never why); /metrics speaks Prometheus text, only to
the holder of METRICS_TOKEN."""

from __future__ import annotations

import re

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
    assert body == {"status": "unavailable", "checks": {"database": "ok", "broker": "down"}}
    assert "127.0.0.1" not in response.content.decode()


def test_healthz_is_503_when_the_database_is_down(client, db, monkeypatch, caplog):
    from django.db import OperationalError

    from sgportal import views

    class DownConnection:
        def cursor(self):
            raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(views, "connection", DownConnection())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "down"
    assert "could not connect" not in response.content.decode()
    assert "could not connect" in caplog.text  # the reason is in the log only


def test_metrics_are_prometheus_text(client, tenant, other_tenant, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    record_audit(tenant, AuditAction.UPDATE, actor="x", object_type="t")
    record_audit(tenant, AuditAction.UPDATE, actor="x", object_type="t")
    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    tenants = {s.labels["active"]: s.value for s in families["sgportal_tenants"].samples}
    assert tenants == {"true": 2.0, "false": 0.0}
    audit = {s.labels["tenant"]: s.value for s in families["sgportal_audit_entries"].samples}
    assert audit == {"acme": 2.0}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer wrong-token",
        "Bearer s3cret-scrape-toke",
        "Basic czNjcmV0LXNjcmFwZS10b2tlbg==",
        "s3cret-scrape-token",
        "Bearer",
    ],
)
def test_metrics_are_404_without_the_token(client, tenant, settings, authorization):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 404
    assert b"acme" not in response.content and b"sgportal_" not in response.content


def test_metrics_are_404_to_everyone_when_no_token_is_set(client, tenant, settings):
    settings.METRICS_TOKEN = None
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert b"sgportal_" not in response.content


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


@pytest.mark.parametrize(
    "given",
    [
        "<script>alert(1)</script>",
        "x" * 65,
        "short",
        "req 1234567890",
        "req-123456789\u00e9",
        "../../etc",
    ],
)
def test_a_request_id_of_the_wrong_shape_is_replaced(client, admin_user, account, given):
    from sgportal.models import AuditEntry

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
        headers={"X-Request-ID": given},
    )
    assert response.status_code == 302
    stored = AuditEntry.objects.get(object_type="sgportal.AwsAccount").request_id
    assert stored == response["X-Request-ID"] != given
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", stored)
