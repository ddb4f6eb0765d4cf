"""Throttling, refusals and dry run: retry what is transient, fail closed on the rest."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError

from ingestion.models import ChangeStatus
from remediation import tasks
from remediation.models import Outcome, RevertAttempt
from sgportal.metrics import render
from tests.remediation.helpers import (
    authorized_ingress,
    deny,
    group_rules,
    make_group,
    member_ec2,
    throttle,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(aws_env, account, approver):
    ec2 = member_ec2(account)
    group = make_group(ec2)
    rule, change = authorized_ingress(ec2, group, account, 22)
    return ec2, group, rule, change, deny(change, approver)


def rule_ids(ec2, group):
    return {r["rule_id"] for r in group_rules(ec2, group)}


def test_it_retries_throttled_calls_and_then_reverts(setup, client_hooks):
    ec2, group, rule, change, decision = setup
    hook = throttle("RevokeSecurityGroupIngress", times=2)
    client_hooks.append(hook)

    result = tasks.revert_change.apply(args=[change.pk, decision.pk]).get()

    assert result == Outcome.REVERTED
    assert hook.state["calls"] == 3
    assert rule["rule_id"] not in rule_ids(ec2, group)
    attempt = RevertAttempt.objects.get()
    assert attempt.tries == 3


def test_it_gives_up_after_the_set_number_of_tries(setup, client_hooks, settings, caplog):
    ec2, group, rule, change, decision = setup
    settings.REMEDIATION_MAX_TRIES = 3
    hook = throttle("RevokeSecurityGroupIngress", times=100)
    client_hooks.append(hook)

    with caplog.at_level(logging.ERROR, logger="remediation"):
        result = tasks.revert_change.apply(args=[change.pk, decision.pk]).get()

    assert result == Outcome.REVERT_FAILED
    assert hook.state["calls"] == 3
    change.refresh_from_db()
    assert change.status == ChangeStatus.REVERT_FAILED
    attempt = RevertAttempt.objects.get()
    assert attempt.error_code == "RequestLimitExceeded"
    assert "gave up after 3 tries" in attempt.detail
    assert rule["rule_id"] in rule_ids(ec2, group)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(line.startswith("SGPORTAL_REVERT_FAILED tenant=acme") for line in lines)
    metrics = render().decode()
    assert 'sgportal_revert_failures_total{kind="revert",tenant="acme"} 1.0' in metrics


def test_it_fails_closed_naming_the_role_when_assume_role_is_denied(setup, client_hooks, account):
    ec2, group, rule, change, decision = setup
    calls = []

    def refuse(client):
        if client.meta.service_model.service_name != "sts":
            return

        def handler(**kwargs):
            calls.append(1)
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": "not authorized to perform sts:AssumeRole (ExternalId mismatch)",
                    }
                },
                "AssumeRole",
            )

        client.meta.events.register("before-call.sts.AssumeRole", handler)

    client_hooks.append(refuse)

    result = tasks.revert_change.apply(args=[change.pk, decision.pk]).get()

    assert result == Outcome.REVERT_FAILED
    assert calls == [1]  # not retried
    attempt = RevertAttempt.objects.get()
    assert attempt.error_code == "AccessDenied"
    assert account.spoke_role_arn in attempt.detail
    assert "account 111111111111" in attempt.detail
    assert "ExternalId" in attempt.detail
    assert rule["rule_id"] in rule_ids(ec2, group)


def test_it_fails_closed_when_ec2_refuses_the_spoke_role(setup, client_hooks, account):
    ec2, group, rule, change, decision = setup
    client_hooks.append(throttle("RevokeSecurityGroupIngress", 100, code="UnauthorizedOperation"))

    result = tasks.revert_change.apply(args=[change.pk, decision.pk]).get()

    assert result == Outcome.REVERT_FAILED
    attempt = RevertAttempt.objects.get()
    assert attempt.tries == 1
    assert attempt.error_code == "UnauthorizedOperation"
    assert f"spoke role {account.spoke_role_arn} in account 111111111111" in attempt.detail
    assert "RevokeSecurityGroupIngress" in attempt.detail


def test_it_changes_nothing_in_dry_run(setup, tenant):
    ec2, group, rule, change, decision = setup
    tenant.dry_run = True
    tenant.save()

    result = tasks.revert_change.apply(args=[change.pk, decision.pk]).get()

    assert result == Outcome.DRY_RUN
    assert rule["rule_id"] in rule_ids(ec2, group)
    attempt = RevertAttempt.objects.get()
    assert attempt.dry_run
    assert [c["result"] for c in attempt.calls] == ["dry_run_ok"]
    assert attempt.plan["calls"][0]["params"]["SecurityGroupRuleIds"] == [rule["rule_id"]]
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED


def test_it_reports_missing_dry_run_permissions(setup, tenant, client_hooks):
    ec2, group, rule, change, decision = setup
    tenant.dry_run = True
    tenant.save()
    client_hooks.append(throttle("RevokeSecurityGroupIngress", 100, code="UnauthorizedOperation"))

    result = tasks.revert_change.apply(args=[change.pk, decision.pk]).get()

    assert result == Outcome.REVERT_FAILED
    assert RevertAttempt.objects.get().error_code == "UnauthorizedOperation"


def test_it_retries_a_throttled_assume_role(setup, client_hooks):
    ec2, group, rule, change, decision = setup
    state = {"left": 1}

    def throttle_sts(client):
        if client.meta.service_model.service_name != "sts":
            return

        def handler(**kwargs):
            if state["left"]:
                state["left"] -= 1
                raise ClientError(
                    {"Error": {"Code": "Throttling", "Message": "slow"}}, "AssumeRole"
                )

        client.meta.events.register("before-call.sts.AssumeRole", handler)

    client_hooks.append(throttle_sts)

    assert tasks.revert_change.apply(args=[change.pk, decision.pk]).get() == Outcome.REVERTED
    assert state["left"] == 0
    assert RevertAttempt.objects.get().tries == 2


def test_a_worker_without_aws_credentials_fails_closed_at_once(setup, client_hooks):
    from botocore.exceptions import NoCredentialsError

    ec2, group, rule, change, decision = setup
    calls = {"n": 0}

    def no_credentials(**kwargs):
        calls["n"] += 1
        raise NoCredentialsError()

    def hook(client):
        if client.meta.service_model.service_name == "ec2":
            client.meta.events.register(
                "before-call.ec2.RevokeSecurityGroupIngress", no_credentials
            )

    client_hooks.append(hook)

    result = tasks.revert_change.apply(args=[change.pk, decision.pk]).get()

    assert result == Outcome.REVERT_FAILED
    assert calls["n"] == 1  # a configuration error is not retried
    attempt = RevertAttempt.objects.get()
    assert attempt.error_code == "NoCredentialsError"
    assert "Give the worker AWS credentials" in attempt.detail
    assert rule["rule_id"] in rule_ids(ec2, group)
