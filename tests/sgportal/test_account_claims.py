"""Security review: an AWS account's claim is proven, not first-come.

Registration used to be first-come (one global unique account id), so any tenant admin could
register another organization's account id first: the owner could then not register it, its
changes stayed unlinked and unreverted, and every role in that account was refused to its
owner. Now several tenants may name an account, but only one whose spoke role passed the
role check (assumable with *its* ExternalId, refused without) has verified it, and only a
verified account is reverted in or blocks others' roles (``AwsAccount.verified_at``).
"""

from __future__ import annotations

import logging
import re

import pytest
from django.test import Client
from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend

from ingestion.models import SecurityGroupChange, Source
from ingestion.parser import parse_record
from ingestion.store import store_changes
from remediation import aws, tasks
from remediation.errors import RoleAssumptionDenied
from remediation.models import RevertAttempt
from sgportal import aws_roles
from sgportal.models import AuditEntry, AwsAccount, RoleCheck
from tests.factories import AwsAccountFactory
from tests.ingestion.helpers import record
from tests.remediation.helpers import authorized_ingress, deny, group_rules, make_group
from tests.remediation.helpers import member_session as _member_session

ACCOUNT = "111111111111"  # the account of the shared CloudTrail record 01
SPOKE = f"arn:aws:iam::{ACCOUNT}:role/SgGuardSpoke"


@pytest.fixture
def trusts(monkeypatch):
    """moto does not evaluate trust policies: AssumeRole of a listed role behaves as AWS does
    under ``Condition: StringEquals sts:ExternalId`` (AccessDenied without one of the listed
    ids). ``trusts[role_arn] = {external ids}``; unlisted roles trust anyone (moto)."""
    trusted: dict[str, set[str]] = {}
    real = STSBackend.assume_role

    def assume_role(self, **kwargs):
        ids = trusted.get(kwargs["role_arn"])
        if ids is not None and kwargs.get("external_id") not in ids:
            raise STSClientError("AccessDenied", f"not authorized to assume {kwargs['role_arn']}")
        return real(self, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", assume_role)
    return trusted


def member_ec2(region: str = "eu-west-1", external_id: str = "x-id"):
    return _member_session(SPOKE, external_id).client("ec2", region_name=region)


def register(client, user, tenant, *, account_id: str = ACCOUNT, name: str = "prod"):
    """The admin's "add AWS account" form, posted by ``user`` for ``tenant``."""
    client.force_login(user)
    return client.post(
        "/admin/sgportal/awsaccount/add/",
        {
            "tenant": tenant.pk,
            "account_id": account_id,
            "name": name,
            "spoke_role_arn": f"arn:aws:iam::{account_id}:role/SgGuardSpoke",
            "regions": '["eu-west-1"]',
            "active": "on",
        },
    )


def check_roles(client, user, tenant):
    """The tenant list action "Check that every role requires the ExternalId"."""
    client.force_login(user)
    return client.post(
        "/admin/sgportal/tenant/",
        {"action": "check_roles", "_selected_action": [tenant.pk]},
        follow=True,
    )


def claim_entries(tenant) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            tenant=tenant, object_type="sgportal.AwsAccount", after__has_key="verified_at"
        )
        .exclude(after__has_key="name")  # the admin's own create/update entries
        .order_by("seq")
    )


@pytest.mark.django_db
def test_a_squatter_cannot_block_the_owner_nor_revert_in_its_account(
    aws_env, client, trusts, tenant, other_tenant, admin_user, approver, outsider
):
    ec2 = member_ec2()
    group = make_group(ec2)

    # Globex's admin registers Acme's account id first: accepted, but inert (unverified).
    assert register(client, outsider, other_tenant, name="squatted").status_code == 302
    squatted = AwsAccount.objects.get(tenant=other_tenant)
    assert squatted.verified_at is None

    # Acme, the owner, can still register it, and its changes link to its own row.
    assert register(client, admin_user, tenant).status_code == 302
    owned = AwsAccount.objects.get(tenant=tenant)
    assert owned.verified_at is None
    store_changes(tenant, [parse_record(record(1))], source=Source.LAKE)
    store_changes(other_tenant, [parse_record(record(1))], source=Source.LAKE)
    assert SecurityGroupChange.objects.get(tenant=tenant).account == owned
    assert SecurityGroupChange.objects.get(tenant=other_tenant).account == squatted

    # Unverified rows are inert: the squatter's revert there fails closed, before any AWS
    # call, with what to do; so does Acme's until it verifies the account.
    for row, decider, port in ((squatted, outsider, 21), (owned, approver, 22)):
        rule, change = authorized_ingress(ec2, group, row, port)
        assert tasks.revert_change.apply(args=[change.pk, deny(change, decider).pk]).get() == (
            "revert_failed"
        )
        attempt = RevertAttempt.objects.get(change=change)
        assert attempt.error_code == "AccountNotVerified" and attempt.tries == 1
        assert f"AWS account {ACCOUNT} ({row.name}) is not verified for this tenant: run " in (
            attempt.detail
        )
        assert "'Check that every role requires the ExternalId' on the tenant" in attempt.detail
        assert rule["rule_id"] in {r["rule_id"] for r in group_rules(ec2, group)}

    # Acme's spoke role trusts Acme's ExternalId only (the owner set it up for Acme).
    trusts[SPOKE] = {tenant.external_id}
    page = check_roles(client, admin_user, tenant)
    assert f"{SPOKE}: ExternalId required (OK)" in page.content.decode()
    owned.refresh_from_db()
    assert owned.verified_at is not None
    (entry,) = claim_entries(tenant)
    assert entry.before == {"verified_at": None} and entry.after["verified_at"]
    assert entry.actor_id == admin_user.pk and entry.via == "admin"
    assert "verified" in entry.object_repr

    # The squatter's check cannot pass (the role refuses its ExternalId): still unverified,
    # and the squatter's check did not touch Acme's row nor write in Acme's audit chain.
    check_roles(client, outsider, other_tenant)
    assert RoleCheck.objects.get(tenant=other_tenant).status == "unreachable"
    squatted.refresh_from_db()
    assert squatted.verified_at is None and not claim_entries(other_tenant)
    assert len(claim_entries(tenant)) == 1
    # Nor can the squatter run Acme's check.
    check_roles(client, outsider, tenant)
    assert len(claim_entries(tenant)) == 1

    # Acme's reverts now work (a new change: the failed one stays failed).
    rule2, change2 = authorized_ingress(ec2, group, owned, 443)
    assert tasks.revert_change.apply(args=[change2.pk, deny(change2, approver).pk]).get() == (
        "reverted"
    )
    assert rule2["rule_id"] not in {r["rule_id"] for r in group_rules(ec2, group)}

    # The squatter's revert in that account fails closed with a clear message (the account
    # is now Acme's: its spoke role there is refused to Globex): nothing changes in AWS,
    # and the attempt is not retried.
    rule3, change3 = authorized_ingress(ec2, group, squatted, 8080)
    assert tasks.revert_change.apply(args=[change3.pk, deny(change3, outsider).pk]).get() == (
        "revert_failed"
    )
    attempt = RevertAttempt.objects.get(change=change3)
    assert attempt.error_code == "AccountVerifiedElsewhere" and attempt.tries == 1
    assert "its AWS account is verified by another tenant" in attempt.detail
    assert rule3["rule_id"] in {r["rule_id"] for r in group_rules(ec2, group)}
    with pytest.raises(RoleAssumptionDenied, match="verified by another tenant"):
        aws.spoke_credentials(
            other_tenant, squatted, source_identity="mallory", session_name="sgportal-change-1"
        )

    # Now verified by Acme, the account blocks Globex's roles in it, not Acme's.
    with pytest.raises(aws_roles.UnsafeRole, match="verified by another tenant"):
        aws_roles.refuse_unsafe_role(other_tenant, f"arn:aws:iam::{ACCOUNT}:role/AcmeHub")
    aws_roles.refuse_unsafe_role(tenant, f"arn:aws:iam::{ACCOUNT}:role/AcmeHub")


@pytest.mark.django_db
def test_an_account_verified_by_one_tenant_cannot_be_taken_by_another(
    aws_env, client, trusts, caplog, tenant, other_tenant, admin_user, outsider
):
    owned = AwsAccountFactory(tenant=tenant, account_id=ACCOUNT, name="prod", verified_at=None)
    trusts[SPOKE] = {tenant.external_id}
    check_roles(client, admin_user, tenant)
    owned.refresh_from_db()
    verified_at = owned.verified_at
    assert verified_at is not None

    # Globex's admin can no longer register it.
    response = register(client, outsider, other_tenant, name="theirs-now")
    assert response.status_code == 200
    assert b"This AWS account is verified by another tenant." in response.content
    assert not AwsAccount.objects.filter(tenant=other_tenant).exists()

    # A row registered before Acme verified it (the same organization registered twice,
    # its role trusting both ExternalIds): Globex's passing check neither steals nor crashes.
    theirs = AwsAccountFactory(
        tenant=other_tenant, account_id=ACCOUNT, name="theirs", verified_at=None
    )
    trusts[SPOKE] = {tenant.external_id, other_tenant.external_id}
    with caplog.at_level(logging.WARNING, logger="sgportal.aws_roles"):
        page = check_roles(client, outsider, other_tenant)
    check = RoleCheck.objects.get(tenant=other_tenant, role_arn=SPOKE)
    assert check.status == "enforced"
    assert f"AWS account {ACCOUNT} is verified by another tenant" in check.detail
    assert "verified by another tenant" in page.content.decode()
    assert "verified by another tenant" in caplog.text
    theirs.refresh_from_db()
    owned.refresh_from_db()
    assert theirs.verified_at is None and owned.verified_at == verified_at
    assert not claim_entries(other_tenant)
    # The beat's check of every tenant does the same, and Globex still cannot revert there.
    assert aws_roles.check_all_tenants() == {"enforced": 2}
    theirs.refresh_from_db()
    assert theirs.verified_at is None
    with pytest.raises(RoleAssumptionDenied, match="its AWS account is verified by another tenant"):
        aws.spoke_credentials(
            other_tenant, theirs, source_identity="mallory", session_name="sgportal-change-1"
        )
    aws.spoke_credentials(tenant, owned, source_identity="alice", session_name="sgportal-change-1")


@pytest.mark.django_db
def test_a_loosened_trust_or_a_new_spoke_role_unverifies_the_account(
    aws_env, client, trusts, tenant, other_tenant, admin_user, approver, outsider
):
    owned = AwsAccountFactory(tenant=tenant, account_id=ACCOUNT, name="prod", verified_at=None)
    # Globex holds the same id unverified: it must not matter to anything below.
    theirs = AwsAccountFactory(
        tenant=other_tenant, account_id=ACCOUNT, name="other", verified_at=None
    )
    ec2 = member_ec2()
    group = make_group(ec2)
    trusts[SPOKE] = {tenant.external_id}
    assert aws_roles.check_all_tenants()["enforced"] == 1
    owned.refresh_from_db()
    assert owned.verified_at is not None

    # Someone in the member account drops the ExternalId condition: the beat's check
    # finds it, the account is no longer verified (audited, by the system), reverts fail.
    del trusts[SPOKE]
    aws_roles.check_all_tenants()
    owned.refresh_from_db()
    assert owned.verified_at is None
    entry = claim_entries(tenant)[-1]
    assert entry.after == {"verified_at": None} and entry.before["verified_at"]
    assert entry.via == "system" and "no longer verified" in entry.object_repr
    rule, change = authorized_ingress(ec2, group, owned, 22)
    assert tasks.revert_change.apply(args=[change.pk, deny(change, approver).pk]).get() == (
        "revert_failed"
    )
    attempt = RevertAttempt.objects.get(change=change)  # the more telling refusal first
    assert attempt.error_code == "ExternalIdNotEnforced" and attempt.tries == 1
    assert "can be assumed without this tenant's ExternalId" in attempt.detail
    assert rule["rule_id"] in {r["rule_id"] for r in group_rules(ec2, group)}

    # Fixed again and re-checked: verified again. Then the admin points the account at
    # another spoke role: what was verified is gone, so is the verification.
    trusts[SPOKE] = {tenant.external_id}
    aws_roles.check_tenant_roles(tenant)
    owned.refresh_from_db()
    assert owned.verified_at is not None
    client.force_login(admin_user)
    new_role = f"arn:aws:iam::{ACCOUNT}:role/SgGuardSpokeV2"
    response = client.post(
        f"/admin/sgportal/awsaccount/{owned.pk}/change/",
        {
            "tenant": tenant.pk,
            "account_id": ACCOUNT,
            "name": "prod",
            "spoke_role_arn": new_role,
            "regions": '["eu-west-1"]',
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content
    owned.refresh_from_db()
    assert owned.spoke_role_arn == new_role and owned.verified_at is None
    edit = AuditEntry.objects.filter(tenant=tenant, after__has_key="name").latest("seq")
    assert edit.before["verified_at"] and edit.after["verified_at"] is None
    with pytest.raises(RoleAssumptionDenied, match="is not verified for this tenant"):
        aws.spoke_credentials(tenant, owned, source_identity="bob", session_name="s")

    # The outsider cannot open Acme's account, and its list shows only its own row.
    client = Client()  # a browser of its own (not the admin's pending messages)
    client.force_login(outsider)
    assert client.get(f"/admin/sgportal/awsaccount/{owned.pk}/change/").status_code != 200
    listing = client.get("/admin/sgportal/awsaccount/").content.decode()
    assert f"/awsaccount/{theirs.pk}/change/" in listing
    assert f"/awsaccount/{owned.pk}/change/" not in listing and "SgGuardSpokeV2" not in listing


@pytest.mark.django_db
def test_only_an_account_verified_by_another_tenant_blocks_a_role(
    aws_env, client, tenant, other_tenant, admin_user, outsider
):
    role = f"arn:aws:iam::{ACCOUNT}:role/AcmeLakeReader"
    squatted = AwsAccountFactory(
        tenant=other_tenant, account_id=ACCOUNT, name="squatted", verified_at=None
    )
    aws_roles.refuse_unsafe_role(tenant, role)  # held unverified by Globex: not refused
    aws_roles.refuse_unsafe_role(other_tenant, role)  # nor for Globex (nobody verified it)

    owned = AwsAccountFactory(tenant=tenant, account_id=ACCOUNT, name="prod")  # verified
    assert owned.verified_at is not None
    aws_roles.refuse_unsafe_role(tenant, role)
    with pytest.raises(aws_roles.UnsafeRole, match="its AWS account is verified by another"):
        aws_roles.refuse_unsafe_role(other_tenant, role)
    with pytest.raises(RoleAssumptionDenied, match="its AWS account is verified by another tenant"):
        aws.spoke_credentials(
            other_tenant, squatted, source_identity="mallory", session_name="sgportal-change-1"
        )

    # The admin list shows whether each account is verified (its page: when), to its own
    # tenant only.
    client.force_login(admin_user)
    listing = client.get("/admin/sgportal/awsaccount/").content.decode()
    assert "column-verified" in listing and f"/awsaccount/{owned.pk}/change/" in listing
    verified_cell = re.search(r'<td class="field-verified">(.*?)</td>', listing).group(1)
    assert 'alt="True"' in verified_cell  # Acme's one account, verified
    assert f"/awsaccount/{squatted.pk}/change/" not in listing
    page = client.get(f"/admin/sgportal/awsaccount/{owned.pk}/change/").content.decode()
    assert "Verified at" in page and 'name="verified_at"' not in page  # read-only
    client.force_login(outsider)
    assert client.get(f"/admin/sgportal/awsaccount/{owned.pk}/change/").status_code != 200
    listing = client.get("/admin/sgportal/awsaccount/").content.decode()
    assert f"/awsaccount/{squatted.pk}/change/" in listing
    assert f"/awsaccount/{owned.pk}/change/" not in listing


@pytest.mark.django_db
def test_saving_an_account_with_its_spoke_role_verifies_it_within_the_save(
    aws_env,
    client,
    trusts,
    celery_eager,
    django_capture_on_commit_callbacks,
    tenant,
    other_tenant,
    admin_user,
    outsider,
):
    """No trip to the tenant list's action: a worker checks the roles right after the save
    commits (eager here), audited as the admin who saved; the squatter's save checks too,
    and stays unverified."""
    trusts[SPOKE] = {tenant.external_id}
    with django_capture_on_commit_callbacks(execute=True):
        response = register(client, outsider, other_tenant, name="squatted")
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        response = register(client, admin_user, tenant)
    assert response.status_code == 302
    owned = AwsAccount.objects.get(tenant=tenant)
    assert owned.verified_at is not None
    (entry,) = claim_entries(tenant)
    assert (entry.actor_id, entry.via) == (admin_user.pk, "admin")
    squatted = AwsAccount.objects.get(tenant=other_tenant)
    assert squatted.verified_at is None and not claim_entries(other_tenant)
    assert RoleCheck.objects.get(tenant=other_tenant, role_arn=SPOKE).status == "unreachable"
