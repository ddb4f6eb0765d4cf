"""The one scoping mechanism: for_user / get_for_user / has_role, and model validation."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from ingestion.models import LakeSource
from sgportal.models import AwsAccount, Membership, Tenant
from sgportal.tenancy import Role, get_for_user, has_role, roles_at_least
from tests.factories import AwsAccountFactory


def test_roles_are_ordered():
    assert roles_at_least(Role.VIEWER) == ["viewer", "approver", "admin"]
    assert roles_at_least(Role.APPROVER) == ["approver", "admin"]
    assert roles_at_least(Role.ADMIN) == ["admin"]


def test_for_user_keeps_only_the_users_tenants(account, other_account, viewer, outsider):
    assert list(AwsAccount.objects.for_user(viewer)) == [account]
    assert list(AwsAccount.objects.for_user(outsider)) == [other_account]
    assert list(AwsAccount.objects.for_user(viewer, Role.APPROVER)) == []


def test_for_user_hides_inactive_tenants(account, approver, tenant):
    tenant.active = False
    tenant.save()
    assert not AwsAccount.objects.for_user(approver).exists()
    assert not has_role(approver, tenant.pk, Role.VIEWER)


def test_anonymous_and_inactive_users_see_nothing(account, approver):
    from django.contrib.auth.models import AnonymousUser

    assert not AwsAccount.objects.for_user(AnonymousUser()).exists()
    approver.is_active = False
    approver.save()
    assert not AwsAccount.objects.for_user(approver).exists()


def test_superusers_see_everything(account, other_account, superuser, other_tenant):
    assert AwsAccount.objects.for_user(superuser).count() == 2
    assert has_role(superuser, other_tenant.pk, Role.ADMIN)


def test_get_for_user_gives_the_same_404_for_absent_and_not_yours(account, other_account, viewer):
    assert get_for_user(AwsAccount.objects, viewer, account.pk) == account
    with pytest.raises(Http404) as not_yours:
        get_for_user(AwsAccount.objects, viewer, other_account.pk)
    with pytest.raises(Http404) as absent:
        get_for_user(AwsAccount.objects, viewer, 987654)
    with pytest.raises(Http404):
        get_for_user(AwsAccount.objects, viewer, "not-a-number")
    assert str(not_yours.value) == str(absent.value)


def test_has_role_respects_the_ranking(tenant, approver, viewer, admin_user, outsider):
    assert has_role(approver, tenant.pk, Role.APPROVER)
    assert not has_role(viewer, tenant.pk, Role.APPROVER)
    assert has_role(admin_user, tenant.pk, Role.APPROVER)
    assert not has_role(outsider, tenant.pk, Role.VIEWER)


def test_tenants_scope_to_themselves(tenant, other_tenant, viewer):
    assert list(Tenant.objects.for_user(viewer)) == [tenant]
    assert list(Membership.objects.for_user(viewer).values_list("tenant__slug", flat=True)) == [
        "acme"
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("account_id", "11111111111", "exactly 12 digits"),
        ("account_id", "11111111111a", "exactly 12 digits"),
        ("spoke_role_arn", "arn:aws:iam::111111111111:user/bob", "IAM role ARN"),
        (
            "spoke_role_arn",
            "arn:aws:iam::222222222222:role/SgGuardSpoke",
            "must live in this account",
        ),
        ("regions", ["eu-west-1", "mars-north-1x"], "not an AWS region"),
    ],
)
def test_accounts_are_validated(tenant, field, value, message):
    account = AwsAccountFactory.build(tenant=tenant, account_id="111111111111", name="a")
    setattr(account, field, value)
    with pytest.raises(ValidationError, match=message):
        account.full_clean()


def test_a_valid_account_passes_validation(tenant):
    account = AwsAccountFactory.build(
        tenant=tenant,
        account_id="111111111111",
        name="a",
        spoke_role_arn="arn:aws:iam::111111111111:role/path/SgGuardSpoke",
    )
    account.full_clean()


@pytest.mark.parametrize(
    "store",
    [
        "x'; DROP TABLE t; --",
        "eds id with spaces",
        "a.b",
        "arn:aws:cloudtrail:us-east-1:1:eventdatastore/x",
    ],
)
def test_tenants_refuse_a_malformed_event_data_store(tenant, store):
    source = LakeSource(tenant=tenant, event_data_store=store)
    with pytest.raises(ValidationError, match="event data store"):
        source.full_clean()


@pytest.mark.parametrize(
    ("store", "store_id"),
    [
        ("EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE", "EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE"),
        ("arn:aws:cloudtrail:eu-west-1:333333333333:eventdatastore/abc-123", "abc-123"),
    ],
)
def test_the_admin_and_the_poller_share_one_store_check(tenant, store, store_id):
    from ingestion.lake import event_data_store_id

    LakeSource(tenant=tenant, event_data_store=store).full_clean()
    assert event_data_store_id(store) == store_id


def test_a_tenant_with_lake_needs_a_store_and_region(tenant):
    source = LakeSource(tenant=tenant, enabled=True)
    with pytest.raises(ValidationError, match="needs an event data store and a region"):
        source.full_clean()
    source.event_data_store = (
        "arn:aws:cloudtrail:us-east-1:333333333333:eventdatastore/"
        "EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE"
    )
    source.region = "us-east-1"
    source.full_clean()
