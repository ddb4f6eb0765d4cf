"""Security review of the confused-deputy guard: a role sgportal found assumable without an
ExternalId is refused by every assume (``refuse_unsafe_role``) -- "anyone who can name its
ARN to sgportal could use it". Anyone: the role's own tenant had it flagged, yet another
tenant's admin could name the same ARN as *their* Lake read role or hub role and sgportal
assumed it for them, reading the victim's CloudTrail or acting through its hub."""

from __future__ import annotations

import boto3
import pytest

from ingestion.lake import lake_client_for
from ingestion.models import LakeSource
from remediation import aws
from remediation.errors import RoleAssumptionDenied
from sgportal import aws_roles
from sgportal.models import AwsAccount, RoleCheck
from tests.admin_forms import changeform_data


def _role(name: str) -> str:
    iam = boto3.client("iam", region_name="us-east-1")
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]


def name_lake_role(client, admin, tenant, role_arn: str):
    """``admin`` names ``role_arn`` as the Lake read role on ``tenant``'s admin page."""
    client.force_login(admin)
    url = f"/admin/sgportal/tenant/{tenant.pk}/change/"
    data = changeform_data(client.get(url))
    data.pop("slug", None), data.pop("active", None)
    data.update(
        {
            "lake_source-TOTAL_FORMS": "1",
            "lake_source-0-enabled": "on",
            "lake_source-0-event_data_store": "a1b2c3d4-0000-1111-2222-333344445555",
            "lake_source-0-region": "us-east-1",
            "lake_source-0-read_role_arn": role_arn,
        }
    )
    return client.post(url, data)


@pytest.mark.django_db
def test_another_tenants_admin_cannot_use_our_unsafe_lake_role_as_theirs(
    aws_env, client, tenant, other_tenant, outsider
):
    victim_role = _role("AcmeLakeReader")  # moto: assumable without the ExternalId
    LakeSource.objects.create(tenant=tenant, read_role_arn=victim_role)
    (check,) = aws_roles.check_tenant_roles(tenant)
    assert check.status == "not_enforced"
    with pytest.raises(aws_roles.UnsafeRole):  # refused for its own tenant, as before
        lake_client_for(tenant)

    # The outsider (admin of the other tenant) names it on their own tenant page.
    assert name_lake_role(client, outsider, other_tenant, victim_role).status_code == 302
    assert LakeSource.objects.get(tenant=other_tenant).read_role_arn == victim_role
    with pytest.raises(aws_roles.UnsafeRole):
        lake_client_for(other_tenant)
    assert not RoleCheck.objects.filter(tenant=other_tenant).exists()  # refused unchecked


@pytest.mark.django_db
def test_another_tenant_cannot_revert_through_our_unsafe_hub_role(
    aws_env, tenant, other_tenant, other_account
):
    victim_hub = _role("AcmeHub")
    tenant.hub_role_arn = victim_hub
    tenant.save(update_fields=["hub_role_arn"])
    (check,) = aws_roles.check_tenant_roles(tenant)
    assert check.status == "not_enforced"

    other_tenant.hub_role_arn = victim_hub  # the outsider's tenant names it as its hub
    other_tenant.save(update_fields=["hub_role_arn"])
    AwsAccount.objects.filter(pk=other_account.pk).update(
        spoke_role_arn=f"arn:aws:iam::{other_account.account_id}:role/GlobexSpoke"
    )
    other_account.refresh_from_db()
    with pytest.raises(RoleAssumptionDenied, match="without this tenant's ExternalId"):
        aws.spoke_credentials(
            other_tenant, other_account, source_identity="mallory", session_name="sgportal-change-1"
        )


@pytest.mark.django_db
def test_a_role_in_an_account_verified_by_another_tenant_is_refused_unchecked(
    aws_env, client, tenant, account, other_tenant, outsider
):
    # Acme's own Lake read role in its verified account (its spoke role passed the role
    # check), the read role itself never checked (as on day one).
    assert account.verified_at is not None
    victim_role = f"arn:aws:iam::{account.account_id}:role/AcmeLakeReader"
    LakeSource.objects.create(tenant=tenant, read_role_arn=victim_role)
    lake_client_for(tenant)  # its own tenant may use it

    assert name_lake_role(client, outsider, other_tenant, victim_role).status_code == 302
    with pytest.raises(aws_roles.UnsafeRole, match="verified by another tenant"):
        lake_client_for(other_tenant)
    other_tenant.hub_role_arn = f"arn:aws:iam::{account.account_id}:role/AcmeHub"
    other_tenant.save(update_fields=["hub_role_arn"])
    with pytest.raises(aws_roles.UnsafeRole, match="verified by another tenant"):
        aws_roles.refuse_unsafe_role(other_tenant, other_tenant.hub_role_arn)
    aws_roles.refuse_unsafe_role(tenant, other_tenant.hub_role_arn)  # fine for Acme itself
