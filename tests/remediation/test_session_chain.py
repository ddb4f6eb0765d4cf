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


def test_it_names_the_reviewer_rather_than_their_email():
    assert aws.source_identity_for("bob <bob@example.com>", None) == "bob"
    assert aws.source_identity_for("Bob", "bob@example.com") == "bob@example.com"


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
