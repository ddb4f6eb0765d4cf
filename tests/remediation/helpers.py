"""Helpers for remediation tests: member-account EC2 in moto, change and decision rows."""

from __future__ import annotations

import uuid
from datetime import datetime

import boto3
from botocore.exceptions import ClientError
from django.utils import timezone

from approvals.models import Decision
from ingestion import rules
from ingestion.models import ChangeStatus, SecurityGroupChange, Source
from ingestion.rules import Rule
from remediation.executor import snapshot_items

REGION = "eu-west-1"


def member_session(role_arn: str, external_id: str = "x-id") -> boto3.Session:
    """Credentials in the member account: moto makes the assumed role's account current."""
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=role_arn, RoleSessionName="test-setup", ExternalId=external_id
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def member_ec2(account, region: str = REGION):
    return member_session(account.spoke_role_arn).client("ec2", region_name=region)


def make_group(ec2, name: str | None = None) -> str:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    name = name or f"sg-test-{uuid.uuid4().hex[:6]}"
    return ec2.create_security_group(
        GroupName=name,
        Description="test",
        VpcId=vpc,
    )["GroupId"]


def group_rules(ec2, group_id: str) -> list[dict]:
    items = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return snapshot_items(items["SecurityGroupRules"])


def authorize(ec2, group_id: str, *definitions: dict) -> list[dict]:
    """Authorize the rules; returns the new snapshot entries (id + definition), in order."""
    before = {r["rule_id"] for r in group_rules(ec2, group_id)}
    for definition in definitions:
        method = (
            ec2.authorize_security_group_egress
            if definition["direction"] == "egress"
            else ec2.authorize_security_group_ingress
        )
        method(GroupId=group_id, IpPermissions=[Rule.from_definition(definition).ip_permission()])
    new = [r for r in group_rules(ec2, group_id) if r["rule_id"] not in before]
    keys = [rules.match_key(d) for d in definitions]
    return sorted(new, key=lambda r: keys.index(rules.match_key(r["definition"])))


def rule_json(action: str, definition: dict, rule_id: str | None = None, **extra) -> dict:
    d = rules.definition_of(definition)
    return Rule(
        action=action,
        direction=d["direction"],
        protocol=d["protocol"],
        from_port=d["from_port"],
        to_port=d["to_port"],
        cidr_ipv4=d["cidr_ipv4"],
        cidr_ipv6=d["cidr_ipv6"],
        prefix_list_id=d["prefix_list_id"],
        referenced_group_id=d["referenced_group_id"],
        referenced_account_id=d["referenced_account_id"],
        description=d["description"],
        rule_id=rule_id,
        **extra,
    ).to_json()


def ingress(port: int, cidr: str = "0.0.0.0/0", **kw) -> dict:
    return {
        "direction": "ingress",
        "protocol": "tcp",
        "from_port": port,
        "to_port": port,
        "cidr_ipv4": cidr,
        **kw,
    }


def make_change(
    account,
    event_name: str,
    group_id: str,
    rules: list[dict],
    *,
    status: str = ChangeStatus.DENIED,
    region: str = REGION,
    event_time: datetime | None = None,
) -> SecurityGroupChange:
    return SecurityGroupChange.objects.create(
        tenant=account.tenant,
        event_id=str(uuid.uuid4()),
        source=Source.MANUAL,
        event_name=event_name,
        event_time=event_time or timezone.now(),
        aws_account_id=account.account_id,
        account=account,
        region=region,
        actor_arn="arn:aws:iam::111111111111:user/mallory",
        group_id=group_id,
        rules=rules,
        raw={"eventName": event_name},
        status=status,
    )


def authorized_ingress(ec2, group_id: str, account, port: int = 22):
    """Authorize tcp/``port`` from anywhere in moto; (its snapshot entry, the change that
    records it, status denied)."""
    rule = authorize(ec2, group_id, ingress(port))[0]
    change = make_change(
        account,
        "AuthorizeSecurityGroupIngress",
        group_id,
        [rule_json("added", rule["definition"], rule["rule_id"])],
    )
    return rule, change


def deny(change: SecurityGroupChange, user=None, via: str = "web") -> Decision:
    return Decision.objects.create(
        change=change,
        verdict="deny",
        via=via,
        user=user,
        actor_name=user.get_username() if user else "policy",
        decided_at=timezone.now(),
    )


def throttle(operation: str, times: int, code: str = "RequestLimitExceeded"):
    """A client hook: the first ``times`` calls of ``operation`` fail with ``code``."""
    state = {"left": times, "calls": 0}

    def handler(**kwargs):
        state["calls"] += 1
        if state["left"] > 0:
            state["left"] -= 1
            raise ClientError(
                {"Error": {"Code": code, "Message": "Request limit exceeded."}}, operation
            )

    def hook(client):
        if client.meta.service_model.service_name == "ec2":
            client.meta.events.register(f"before-call.ec2.{operation}", handler)

    hook.state = state
    return hook
