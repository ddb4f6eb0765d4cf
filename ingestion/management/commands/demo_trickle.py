"""demo_trickle: keep realistic security-group changes flowing into the demo tenant.

Each tick makes a real AuthorizeSecurityGroupIngress/Egress call in one of the tenant's
member accounts (through its spoke role, against AWS_ENDPOINT_URL — the demo's moto
server), builds the CloudTrail record AWS would log for it, and ingests it through the
same parser and store as every other source. Meant for `make demo`; refuses to run
against real AWS (no AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import os
import random
import time

import boto3
from botocore.exceptions import ClientError
from django.core.management.base import BaseCommand, CommandError

from ingestion import simulate
from ingestion.models import Source
from ingestion.parser import parse_record
from ingestion.store import own_role_arns, store_changes
from sgportal.models import AwsAccount, Tenant

# (weight, permission, egress): what people really open, the risky and the routine.
CHANGES = [
    (
        3,
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "debug ssh"}],
        },
        False,
    ),
    (
        2,
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        False,
    ),
    (
        2,
        {
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "IpRanges": [{"CidrIp": "10.20.0.0/16", "Description": "app subnet"}],
        },
        False,
    ),
    (
        1,
        {
            "IpProtocol": "tcp",
            "FromPort": 3389,
            "ToPort": 3389,
            "IpRanges": [{"CidrIp": "203.0.113.0/24", "Description": "vendor RDP"}],
        },
        False,
    ),
    (1, {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}, False),
    (
        1,
        {
            "IpProtocol": "udp",
            "FromPort": 53,
            "ToPort": 53,
            "IpRanges": [{"CidrIp": "10.0.0.2/32"}],
        },
        True,
    ),
]
ACTORS = [
    ("arn:aws:iam::{account}:user/alice", "aws-cli/2.17.42 md/command#ec2.authorize"),
    (
        "arn:aws:sts::{account}:assumed-role/terraform-deploy/ci-run",
        "APN/1.0 HashiCorp/1.0 "
        "Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.66.0",
    ),
    ("arn:aws:sts::{account}:assumed-role/AWSReservedSSO_Admin/bob", "AWS Internal"),
]


class Command(BaseCommand):
    help = "Make realistic security-group changes in the demo's AWS emulator and ingest them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", default="demo")
        parser.add_argument("--interval", type=float, default=20.0, help="seconds between changes")
        parser.add_argument("--count", type=int, default=0, help="stop after N (0: never)")

    def handle(self, *args, tenant: str, interval: float, count: int, **options) -> None:
        if not os.environ.get("AWS_ENDPOINT_URL"):
            raise CommandError("demo_trickle only runs against an AWS emulator (AWS_ENDPOINT_URL).")
        try:
            tenant_obj = Tenant.objects.get(slug=tenant)
        except Tenant.DoesNotExist:
            raise CommandError(f"No tenant {tenant!r}: run `manage.py seed_demo` first.") from None
        accounts = list(AwsAccount.objects.for_tenant(tenant_obj).filter(active=True))
        if not accounts:
            raise CommandError(f"Tenant {tenant!r} has no active accounts.")
        groups: dict[tuple[str, str], str] = {}
        made = 0
        while not count or made < count:
            account = random.choice(accounts)  # noqa: S311 (demo data, not security)
            region = random.choice(account.regions or ["us-east-1"])  # noqa: S311
            ec2 = _member_ec2(account, region)
            key = (account.account_id, region)
            if key not in groups:
                groups[key] = _demo_group(ec2, region)
            weights = [weight for weight, _, _ in CHANGES]
            _, permission, egress = random.choices(CHANGES, weights=weights)[0]  # noqa: S311
            actor, agent = random.choice(ACTORS)  # noqa: S311
            try:
                record = simulate.authorize(
                    ec2,
                    group_id=groups[key],
                    permissions=[permission],
                    account_id=account.account_id,
                    region=region,
                    egress=egress,
                    actor_arn=actor.format(account=account.account_id),
                    user_agent=agent,
                )
            except ClientError as exc:  # e.g. the same rule is already there: try another
                self.stderr.write(f"skipped: {exc.response['Error'].get('Code')}")
                time.sleep(0.5)
                continue
            parsed = parse_record(record, own_role_arns=own_role_arns(tenant_obj))
            result = store_changes(tenant_obj, [parsed], source=Source.MANUAL)
            made += 1
            self.stdout.write(
                f"{record['eventName']} on {groups[key]} in {account.name}/"
                f"{region}: {result.new} new"
            )
            if not count or made < count:
                time.sleep(interval)


def _member_ec2(account: AwsAccount, region: str):
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=account.spoke_role_arn,
        RoleSessionName="sgportal-demo-trickle",
        ExternalId=account.tenant.external_id,
    )["Credentials"]
    return boto3.client(
        "ec2",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _demo_group(ec2, region: str) -> str:
    name = f"payments-web-{region}"
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])
    if found["SecurityGroups"]:
        return found["SecurityGroups"][0]["GroupId"]
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_security_group(GroupName=name, Description="demo web tier", VpcId=vpc)[
        "GroupId"
    ]
