"""The AWS session chain: hub -> spoke, ExternalIds, SourceIdentity, session names, cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from remediation import aws, tasks
from tests.remediation.helpers import (
    authorized_ingress,
    deny,
    make_group,
    member_ec2,
)

pytestmark = pytest.mark.django_db
HUB = "arn:aws:iam::333333333333:role/SgGuardHub"


@pytest.fixture
def assume_calls(client_hooks):
    seen = []

    def capture(client):
        if client.meta.service_model.service_name == "sts":
            client.meta.events.register(
                "before-parameter-build.sts.AssumeRole",
                lambda params, **kw: seen.append(dict(params)),
            )

    client_hooks.append(capture)
    return seen


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bob-approver", "bob-approver"),
        ("Bob Smith <bob@example.com>", "Bob-Smith--bob@example.com"),
        ("a" * 80, "a" * 64),
        ("é", "system"),
        ("", "system"),
        ("x", "system"),
    ],
)
def test_it_sanitises_source_identities(value, expected):
    assert aws.sanitize_identity(value) == expected


def test_it_names_the_reviewer_by_username():
    assert aws.source_identity_for("Bob <bob@example.com>", "bob", 7) == "bob"
    assert aws.source_identity_for("Bob", "bob@example.com", 7) == "bob@example.com"


@pytest.mark.parametrize(
    ("username", "user_id", "expected"),
    [
        ("zoë", 17, "zoe=17"),
        ("zoé", 18, "zoe=18"),
        ("张伟", 19, "user=19"),
        ("system", 20, "system=20"),  # never the policy's identity
        ("sgportal-inventory", 21, "sgportal-inventory=21"),
        ("a" * 70, 22, "a" * 61 + "=22"),
        ("x", 23, "x=23"),
    ],
)
def test_a_username_aws_cannot_take_verbatim_gets_a_stable_per_user_form(
    username, user_id, expected
):
    # Issue 10, item 9: one person, unambiguously; never "system", never shared.
    assert aws.source_identity_for(username, username, user_id) == expected


def test_a_decider_without_an_account_is_named_by_a_hash_of_the_name():
    one = aws.source_identity_for("Zoë <z@example.com>")
    assert one.startswith("Zoe=n") and len(one) <= 64
    assert one == aws.source_identity_for("Zoë <z@example.com>")
    assert one != aws.source_identity_for("Zoé <z@example.com>")


def test_it_assumes_hub_then_spoke_with_external_ids_and_source_identity(
    aws_env, tenant, account, approver, assume_calls
):
    tenant.hub_role_arn = HUB
    tenant.save()
    ec2 = member_ec2(account)
    group = make_group(ec2)
    rule, change = authorized_ingress(ec2, group, account, 22)

    assert tasks.revert_change.apply(args=[change.pk, deny(change, approver).pk]).get() == (
        "reverted"
    )

    assert [(c["RoleArn"], c["ExternalId"], c["SourceIdentity"]) for c in assume_calls] == [
        (HUB, tenant.external_id, "bob-approver"),
        (account.spoke_role_arn, tenant.external_id, "bob-approver"),
    ]
    assert assume_calls[1]["RoleSessionName"] == f"sgportal-change-{change.pk}"
    assert all(len(c["RoleSessionName"]) <= 64 for c in assume_calls)


def test_reviewers_without_ascii_names_revert_as_themselves_not_as_system(
    aws_env, tenant, account, assume_calls
):
    from remediation.models import RevertAttempt
    from sgportal.tenancy import Role
    from tests.factories import MembershipFactory, UserFactory

    ec2 = member_ec2(account)
    group = make_group(ec2)
    sent = []
    for name, port in (("zoë", 22), ("zoé", 3389)):
        user = UserFactory(username=name)
        MembershipFactory(user=user, tenant=tenant, role=Role.APPROVER)
        _rule, change = authorized_ingress(ec2, group, account, port)
        assert tasks.revert_change.apply(args=[change.pk, deny(change, user).pk]).get() == (
            "reverted"
        )
        attempt = RevertAttempt.objects.get(change=change)
        assert attempt.source_identity == f"zoe={user.pk}"
        sent.append(assume_calls[-1]["SourceIdentity"])
        assert sent[-1] == attempt.source_identity  # stored exactly what was sent
    assert len(set(sent)) == 2
    assert aws.SYSTEM_IDENTITY not in sent


def test_it_reuses_sessions_until_shortly_before_they_expire(
    aws_env, tenant, account, assume_calls
):
    def client():
        return aws.ec2_client(
            tenant, account, "eu-west-1", source_identity="bob", session_name="sgportal-change-1"
        )

    client()
    client()
    assert len(assume_calls) == 1
    aws.ec2_client(
        tenant, account, "eu-west-1", source_identity="carol", session_name="sgportal-change-1"
    )
    assert len(assume_calls) == 2

    with time_machine.travel(timezone.now() + timedelta(minutes=56), tick=False):
        client()
    assert len(assume_calls) == 3


def test_it_refuses_an_account_without_a_spoke_role(aws_env, tenant, account):
    account.spoke_role_arn = ""
    with pytest.raises(aws.RoleAssumptionDenied, match="No spoke role is configured"):
        aws.ec2_client(tenant, account, "eu-west-1", source_identity="bob", session_name="s-1")
