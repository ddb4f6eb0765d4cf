"""Factories for approvals tests: SecurityGroupChange rows built directly (no parser)."""

from __future__ import annotations

import datetime as dt

import factory

from approvals.models import Decision, SlackMessage, Verdict, Via
from approvals.rating import rate_at_ingest
from ingestion.models import ChangeStatus, SecurityGroupChange, Source
from ingestion.rules import Rule
from tests.factories import AwsAccountFactory


def ssh_from_world() -> list[dict]:
    return [
        Rule(
            action="added",
            direction="ingress",
            protocol="tcp",
            from_port=22,
            to_port=22,
            cidr_ipv4="0.0.0.0/0",
            rule_id="sgr-0aaa",
        ).to_json()
    ]


class ChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SecurityGroupChange

    account = factory.SubFactory(AwsAccountFactory)
    tenant = factory.LazyAttribute(lambda o: o.account.tenant)
    event_id = factory.Sequence(lambda n: f"0000{n:04d}-aaaa-bbbb-cccc-{n:012d}")
    source = Source.MANUAL
    event_name = "AuthorizeSecurityGroupIngress"
    event_time = factory.LazyFunction(lambda: dt.datetime(2026, 9, 14, 8, 5, tzinfo=dt.UTC))
    aws_account_id = factory.LazyAttribute(lambda o: o.account.account_id)
    region = "us-east-1"
    actor_type = "IAMUser"
    actor_arn = factory.LazyAttribute(lambda o: f"arn:aws:iam::{o.aws_account_id}:user/dev-alex")
    actor_account_id = factory.LazyAttribute(lambda o: o.aws_account_id)
    source_ip = "198.51.100.23"
    user_agent = "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.5 md/arch#x86_64"
    group_id = "sg-0123456789abcdef0"
    group_name = "web-frontend"
    vpc_id = "vpc-0abc1234"
    rules = factory.LazyFunction(ssh_from_world)
    raw = factory.LazyFunction(dict)
    status = ChangeStatus.PENDING
    # Rated as ingestion rates a stored change (issue 13: the queue filters on it).
    severity = factory.LazyAttribute(
        lambda o: rate_at_ingest(o.rules, getattr(o, "via_spoke_role", False), o.status)
    )


class SlackMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlackMessage

    change = factory.SubFactory(ChangeFactory)


class DecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Decision

    change = factory.SubFactory(ChangeFactory)
    verdict = Verdict.APPROVE
    via = Via.WEB
    actor_name = "someone"
    decided_at = factory.LazyFunction(lambda: dt.datetime(2026, 9, 14, 9, 0, tzinfo=dt.UTC))
