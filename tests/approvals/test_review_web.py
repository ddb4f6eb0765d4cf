"""Security review of the web pages: input an attacker types into a page's filters gets a
page, never a server error, and never another tenant's rows."""

from __future__ import annotations

import pytest

from sgportal.audit import record_audit
from sgportal.models import AuditAction


@pytest.mark.parametrize("param", ["action", "actor", "object"])
def test_a_nul_byte_in_an_audit_log_filter_is_an_empty_page_not_a_500(
    client, approver, outsider, tenant, other_tenant, param
):
    record_audit(tenant, AuditAction.UPDATE, actor="x", object_type="t", object_repr="acme-thing")
    record_audit(other_tenant, AuditAction.UPDATE, actor="x", object_type="t", object_repr="glx")
    client.raise_request_exception = False
    client.force_login(approver)
    response = client.get("/audit/", {param: "x\x00y"})
    assert response.status_code == 200  # PostgreSQL cannot compare with a NUL: was a 500
    assert "acme-thing" not in response.content.decode()  # no entry holds a NUL
    assert "acme-thing" in client.get("/audit/", {param: ""}).content.decode()
    client.force_login(outsider)
    page = client.get("/audit/", {param: "x\x00y", "tenant": tenant.pk})
    assert page.status_code == 200 and "acme-thing" not in page.content.decode()
