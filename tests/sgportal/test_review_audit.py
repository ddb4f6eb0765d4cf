"""Security review: what the audit log tells its readers. Approvers read it on /audit/ and
any read-scoped API token at /api/v1/audit/, so a snapshot of a row must never carry a
stored credential, not even its hash (the EventBridge secret's is enough to test a guess
offline, and nobody but the door that checks it needs it)."""

from __future__ import annotations

import json

from ingestion.models import EventBridgeSource
from ingestion.sources import rotate_eventbridge_secret
from sgportal.models import AuditEntry
from tests.admin_forms import changeform_data
from tests.api import call, tokens_fixture  # noqa: F401 (fixture)


def test_toggling_the_eventbridge_source_inline_never_puts_its_secret_hash_in_the_audit_log(
    client, admin_user, approver, outsider, tenant, other_tenant, tokens
):
    rotate_eventbridge_secret(tenant, actor="test")
    stored_hash = EventBridgeSource.objects.get(tenant=tenant).secret_hash
    client.force_login(admin_user)
    url = f"/admin/sgportal/tenant/{tenant.pk}/change/"
    data = changeform_data(client.get(url))
    data.pop("slug", None), data.pop("active", None)
    data["eventbridge_source-0-enabled"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:3000]
    assert EventBridgeSource.objects.get(tenant=tenant).enabled
    entries = [
        e
        for e in AuditEntry.objects.filter(tenant=tenant, via="admin")
        if e.object_type == "ingestion.EventBridgeSource"
    ]
    assert any((e.after or {}).get("enabled") is True for e in entries)  # audited ...
    assert stored_hash not in json.dumps([[e.before, e.after] for e in entries])  # no hash

    # Nor does any reader of the log see it: an approver's page, a read token.
    client.force_login(approver)
    page = client.get("/audit/")
    assert page.status_code == 200 and b"EventBridge" in page.content
    assert stored_hash.encode() not in page.content
    api = call(client, "get", "/api/v1/audit/", tokens.read)
    assert api.status_code == 200
    assert stored_hash not in api.content.decode()
    # The outsider (admin of another tenant) sees none of it, by page or by token.
    client.force_login(outsider)
    assert b"EventBridge" not in client.get("/audit/").content
    assert (
        "EventBridgeSource"
        not in call(client, "get", "/api/v1/audit/", tokens.outsider).content.decode()
    )
