"""The revert attempt admin shows plan and snapshots to the tenant's admins only."""

from __future__ import annotations

import pytest
from django.utils import timezone

from remediation.models import InventoryRule, RevertAttempt
from tests.remediation.helpers import ingress, make_change

pytestmark = pytest.mark.django_db


@pytest.fixture
def attempt(account):
    change = make_change(account, "AuthorizeSecurityGroupIngress", "sg-0123456789abcdef0", [])
    return RevertAttempt.objects.create(
        change=change,
        actor_name="bob-approver",
        plan={
            "revertible": True,
            "calls": [
                {
                    "operation": "RevokeSecurityGroupIngress",
                    "params": {"SecurityGroupRuleIds": ["sgr-0feed"]},
                }
            ],
        },
        before=[{"rule_id": "sgr-0feed", "definition": ingress(22)}],
        after=[],
        started_at=timezone.now(),
    )


def test_it_shows_the_plan_and_snapshots_to_the_tenant_admin(client, admin_user, attempt):
    client.force_login(admin_user)

    listing = client.get("/admin/remediation/revertattempt/")
    detail = client.get(f"/admin/remediation/revertattempt/{attempt.pk}/change/")

    assert listing.status_code == 200
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "RevokeSecurityGroupIngress" in body
    assert "sgr-0feed" in body
    assert "0.0.0.0/0" in body


def test_it_refuses_the_outsider(client, outsider, attempt):
    client.force_login(outsider)

    listing = client.get("/admin/remediation/revertattempt/")
    detail = client.get(f"/admin/remediation/revertattempt/{attempt.pk}/change/")

    assert "sgr-0feed" not in detail.content.decode()
    assert detail.status_code in (302, 403, 404)
    assert f"/admin/remediation/revertattempt/{attempt.pk}/" not in listing.content.decode()


def test_it_is_read_only(client, admin_user, attempt):
    client.force_login(admin_user)

    response = client.post(
        f"/admin/remediation/revertattempt/{attempt.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 403
    assert RevertAttempt.objects.filter(pk=attempt.pk).exists()


def test_it_scopes_the_inventory(client, admin_user, outsider, account):
    rule = InventoryRule.objects.create(
        tenant=account.tenant,
        account=account,
        region="eu-west-1",
        group_id="sg-1",
        rule_id="sgr-0secret",
        definition=ingress(22),
        refreshed_at=timezone.now(),
    )
    client.force_login(admin_user)
    assert client.get(f"/admin/remediation/inventoryrule/{rule.pk}/change/").status_code == 200
    client.force_login(outsider)
    response = client.get("/admin/remediation/inventoryrule/")
    assert "sgr-0secret" not in response.content.decode()
