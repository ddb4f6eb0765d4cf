"""Issue 9, finding 4: ExternalIds are sgportal's, accounts and event data stores belong to one
tenant, and a role that does not require the ExternalId is refused (confused deputy)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend

from ingestion.lake import lake_client_for
from ingestion.models import LakeSource
from remediation import aws, tasks
from remediation.errors import RoleAssumptionDenied
from sgportal import aws_roles
from sgportal.models import AuditAction, AuditEntry, AwsAccount, RoleCheck
from tests.admin_forms import changeform_data
from tests.factories import TenantFactory
from tests.remediation.helpers import (
    authorized_ingress,
    deny,
    group_rules,
    make_group,
    member_ec2,
)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def trust_enforced(monkeypatch):
    """moto does not evaluate trust policies: this makes AssumeRole of the listed roles
    behave as AWS does under ``Condition: StringEquals sts:ExternalId`` (AccessDenied
    without the right id). ``enforced[role_arn] = external_id``."""
    enforced: dict[str, str] = {}
    real = STSBackend.assume_role

    def assume_role(self, **kwargs):
        expected = enforced.get(kwargs["role_arn"])
        if expected is not None and kwargs.get("external_id") != expected:
            raise STSClientError("AccessDenied", f"not authorized to assume {kwargs['role_arn']}")
        return real(self, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", assume_role)
    return enforced


def test_every_tenant_gets_its_own_generated_external_id(tenant, other_tenant):
    assert tenant.external_id.startswith("sgp-") and len(tenant.external_id) >= 40
    assert tenant.external_id != other_tenant.external_id
    assert len({TenantFactory().external_id for _ in range(20)}) == 20


def test_a_tenant_admin_cannot_type_an_external_id(admin_client, tenant, other_tenant):
    page = admin_client.get(f"/admin/sgportal/tenant/{tenant.pk}/change/")
    assert tenant.external_id.encode() in page.content  # shown, with the trust policy
    assert b"sts:ExternalId" in page.content
    form = page.context["adminform"].form
    assert "external_id" not in form.fields
    data = changeform_data(page)
    data.pop("slug", None), data.pop("active", None)
    data["external_id"] = other_tenant.external_id
    response = admin_client.post(f"/admin/sgportal/tenant/{tenant.pk}/change/", data)
    assert response.status_code == 302, response.content[:3000]
    before = tenant.external_id
    tenant.refresh_from_db()
    assert tenant.external_id == before


def test_rotating_the_external_id_is_audited_and_scoped(admin_client, tenant, other_tenant):
    before_ours, before_theirs = tenant.external_id, other_tenant.external_id
    response = admin_client.post(
        "/admin/sgportal/tenant/",
        {"action": "rotate_external_id", "_selected_action": [tenant.pk, other_tenant.pk]},
    )
    assert response.status_code == 302
    tenant.refresh_from_db(), other_tenant.refresh_from_db()
    assert tenant.external_id != before_ours
    assert other_tenant.external_id == before_theirs  # not in the admin's queryset
    entry = AuditEntry.objects.get(tenant=tenant, action=AuditAction.UPDATE)
    assert entry.before == {"external_id": before_ours}
    assert entry.after == {"external_id": tenant.external_id}
    assert not AuditEntry.objects.filter(tenant=other_tenant).exists()


def test_an_aws_account_belongs_to_one_tenant(admin_client, tenant, other_account):
    """At most one tenant *verifies* an account (tests/sgportal/test_account_claims.py: an
    unverified registration elsewhere blocks nobody); Globex's account is verified."""
    assert other_account.verified_at is not None
    response = admin_client.post(
        "/admin/sgportal/awsaccount/add/",
        {
            "tenant": tenant.pk,
            "account_id": other_account.account_id,  # Globex's account
            "name": "theirs-now",
            "spoke_role_arn": other_account.spoke_role_arn,
            "regions": '["us-east-1"]',
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert b"This AWS account is verified by another tenant." in response.content
    assert not AwsAccount.objects.filter(name="theirs-now").exists()


@pytest.mark.parametrize(
    "typed",
    [
        "arn:aws:cloudtrail:eu-west-1:222222222222:eventdatastore/"
        "a1b2c3d4-0000-1111-2222-333344445555",
        "a1b2c3d4-0000-1111-2222-333344445555",
    ],
)
def test_an_event_data_store_belongs_to_one_tenant(admin_client, tenant, other_tenant, typed):
    LakeSource.objects.create(
        tenant=other_tenant, event_data_store="a1b2c3d4-0000-1111-2222-333344445555"
    )
    page = admin_client.get(f"/admin/sgportal/tenant/{tenant.pk}/change/")
    data = changeform_data(page)
    data.pop("slug", None), data.pop("active", None)
    data.update(
        {
            "lake_source-TOTAL_FORMS": "1",
            "lake_source-0-event_data_store": typed,
            "lake_source-0-region": "eu-west-1",
        }
    )
    response = admin_client.post(f"/admin/sgportal/tenant/{tenant.pk}/change/", data)
    assert response.status_code == 200
    assert b"belongs to another tenant" in response.content
    assert not LakeSource.objects.filter(tenant=tenant).exists()


@pytest.mark.django_db
def test_a_role_assumable_without_the_external_id_is_refused(
    aws_env, tenant, account, approver, trust_enforced
):
    ec2 = member_ec2(account)
    group = make_group(ec2)
    rule, change = authorized_ingress(ec2, group, account, 22)
    (check,) = aws_roles.check_tenant_roles(tenant)  # moto: no trust condition on the role
    assert check.status == "not_enforced" and check.role_arn == account.spoke_role_arn

    with pytest.raises(RoleAssumptionDenied, match="without this tenant's ExternalId"):
        aws.spoke_credentials(tenant, account, source_identity="bob", session_name="s")
    result = tasks.revert_change.apply(args=[change.pk, deny(change, approver).pk]).get()
    assert result == "revert_failed"
    assert rule["rule_id"] in {r["rule_id"] for r in group_rules(ec2, group)}  # untouched


@pytest.mark.django_db
def test_a_role_that_requires_the_external_id_passes_the_check(
    aws_env, tenant, account, trust_enforced
):
    trust_enforced[account.spoke_role_arn] = tenant.external_id
    (check,) = aws_roles.check_tenant_roles(tenant)
    assert check.status == "enforced"
    trust_enforced[account.spoke_role_arn] = "someone-elses-id"
    (check,) = aws_roles.check_tenant_roles(tenant)
    assert check.status == "unreachable" and "AccessDenied" in check.detail
    assert RoleCheck.objects.filter(tenant=tenant).count() == 1


@pytest.mark.django_db
def test_the_lake_read_role_is_refused_when_not_enforced(aws_env, tenant, trust_enforced):
    role = boto3.client("iam", region_name="us-east-1").create_role(
        RoleName="LakeReader", AssumeRolePolicyDocument="{}"
    )["Role"]
    LakeSource.objects.create(tenant=tenant, read_role_arn=role["Arn"])
    (check,) = aws_roles.check_tenant_roles(tenant)
    assert check.status == "not_enforced"
    with pytest.raises(aws_roles.UnsafeRole):
        lake_client_for(tenant)


def test_the_outsider_cannot_check_or_see_our_role_checks(client, outsider, tenant):
    RoleCheck.objects.create(
        tenant=tenant,
        role_arn="arn:aws:iam::111111111111:role/Ours",
        status="enforced",
        checked_at="2026-12-01T00:00:00Z",
    )
    client.force_login(outsider)
    assert b"role/Ours" not in client.get("/admin/sgportal/rolecheck/").content
    client.post(
        "/admin/sgportal/tenant/", {"action": "check_roles", "_selected_action": [tenant.pk]}
    )
    assert RoleCheck.objects.get(tenant=tenant).status == "enforced"


def test_the_one_assume_role_helper_sends_what_it_is_given(aws_env, trust_enforced):
    """sgportal.aws_roles.assume_role: every place that assumes a role goes through it."""
    role_arn = "arn:aws:iam::222222222222:role/SgGuardSpoke"
    trust_enforced[role_arn] = "sgp-the-right-id"
    sts = boto3.client("sts", region_name="us-east-1")
    with pytest.raises(ClientError, match="AccessDenied"):  # no ExternalId sent
        aws_roles.assume_role(sts, role_arn, session_name="sgportal-test")
    assumed = aws_roles.assume_role(
        sts,
        role_arn,
        session_name="sgportal-" + "x" * 80,  # longer than AWS allows: cut to 64
        external_id="sgp-the-right-id",
        source_identity="alice",
        duration_s=900,
    )
    assert set(assumed.credentials) == {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    }
    assert assumed.expires_at.tzinfo is not None
    identity = assumed.session().client("sts", region_name="us-east-1").get_caller_identity()
    assert identity["Arn"].endswith(f"assumed-role/SgGuardSpoke/{('sgportal-' + 'x' * 80)[:64]}")
    assert identity["Account"] == "222222222222"


@pytest.mark.django_db
def test_beat_rechecks_every_tenant_and_finds_a_trust_loosened_later(
    aws_env, tenant, account, other_account, trust_enforced, client, settings
):
    from sgportal import tasks as sgportal_tasks

    trust_enforced[account.spoke_role_arn] = tenant.external_id
    trust_enforced[other_account.spoke_role_arn] = other_account.tenant.external_id
    assert sgportal_tasks.check_role_trusts.apply().get() == {"enforced": 2}

    # Someone in our member account drops the ExternalId condition from the trust policy.
    del trust_enforced[account.spoke_role_arn]
    assert sgportal_tasks.check_role_trusts.apply().get() == {"enforced": 1, "not_enforced": 1}
    assert RoleCheck.objects.get(tenant=tenant).status == "not_enforced"
    assert RoleCheck.objects.get(tenant=other_account.tenant).status == "enforced"
    with pytest.raises(RoleAssumptionDenied, match="without this tenant's ExternalId"):
        aws.spoke_credentials(tenant, account, source_identity="bob", session_name="s")
    aws.spoke_credentials(
        other_account.tenant, other_account, source_identity="carol", session_name="check"
    )

    settings.METRICS_TOKEN = "scrape"
    metrics = client.get("/metrics", headers={"Authorization": "Bearer scrape"}).content.decode()
    assert f'sgportal_role_checks{{status="not_enforced",tenant="{tenant.slug}"}} 1.0' in metrics
    assert 'sgportal_role_checks{status="enforced",tenant="globex"} 1.0' in metrics
