"""demo_trickle: keep realistic, varied security-group changes flowing into the demo tenant
through the ingestion paths production uses.

Each tick makes a real AuthorizeSecurityGroupIngress/Egress call in one of the tenant's
member accounts (through its spoke role, against AWS_ENDPOINT_URL — the demo's moto
server): another group, port, peer, person or tool each time, never one the group already
has. The CloudTrail record AWS would log for it is then delivered as AWS would deliver it
(devtools.demo_aws):

- always as the EventBridge event, POSTed to ``/ingest/eventbridge/<tenant>/`` with the
  demo tenant's secret (as an EventBridge API destination does);
- for about half of them (``--trail-share``) also in a gzipped CloudTrail log file in the
  organization trail's bucket, whose S3 notification reaches the trail's SQS queue (read
  by ``manage.py ingest_trail``).

Meant for `make demo`; refuses to run against real AWS (no AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import os
import random
import time

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from ingestion import simulate
from sgportal.models import AwsAccount, Tenant

# (port or (from, to), protocol, weight): what people open, the risky and the routine.
PORTS = [
    (22, "tcp", 5),
    (3389, "tcp", 2),
    (443, "tcp", 5),
    (80, "tcp", 2),
    (5432, "tcp", 3),
    (3306, "tcp", 2),
    (6379, "tcp", 2),
    (9200, "tcp", 1),
    (27017, "tcp", 1),
    (8080, "tcp", 3),
    (8443, "tcp", 2),
    ((30000, 32767), "tcp", 1),
    (53, "udp", 1),
    (123, "udp", 1),
]
DESCRIPTIONS = [
    "debugging",
    "vendor access",
    "temp for INC-{n}",
    "office VPN",
    "load balancer",
    "CHG-{n} db migration",
    "partner API",
    "",
]
TIERS = ["payments-web", "payments-api", "orders-db", "bastion", "batch-workers", "metrics"]
ACTORS = [
    ("arn:aws:iam::{account}:user/alice", "aws-cli/2.17.42 md/command#ec2.authorize"),
    ("arn:aws:iam::{account}:user/carol", "Boto3/1.35.10 md/Botocore#1.35.10 ua/2.0 os/linux"),
    (
        "arn:aws:sts::{account}:assumed-role/terraform-deploy/ci-run",
        "APN/1.0 HashiCorp/1.0 "
        "Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.66.0",
    ),
    ("arn:aws:sts::{account}:assumed-role/AWSReservedSSO_Admin/bob", "AWS Internal"),
    (
        "arn:aws:sts::{account}:assumed-role/github-actions-deploy/GitHubActions",
        "aws-sdk-go-v2/1.30.4 os/linux lang/go#1.22.6 api/ec2#1.177.0",
    ),
]
SOURCE_IPS = ["198.51.100.23", "203.0.113.77", "192.0.2.10", "10.20.4.31"]


def random_permission(rng: random.Random, peer_group: str = "") -> tuple[dict, bool]:
    """A varied permission (boto3 IpPermissions item) and whether it is egress."""
    port, protocol, _ = rng.choices(PORTS, weights=[w for _, _, w in PORTS])[0]
    low, high = port if isinstance(port, tuple) else (port, port)
    description = rng.choice(DESCRIPTIONS).format(n=rng.randint(1000, 9999))
    extra = {"Description": description} if description else {}
    peer = rng.choices(
        ["world4", "world6", "office", "partner", "internal", "group"], [4, 1, 3, 2, 3, 1]
    )[0]
    permission: dict = {"IpProtocol": protocol, "FromPort": low, "ToPort": high}
    if peer == "world4":
        permission["IpRanges"] = [{"CidrIp": "0.0.0.0/0", **extra}]
    elif peer == "world6":
        permission["Ipv6Ranges"] = [{"CidrIpv6": "::/0", **extra}]
    elif peer == "office":
        permission["IpRanges"] = [{"CidrIp": f"203.0.113.{rng.randint(1, 254)}/32", **extra}]
    elif peer == "partner":
        permission["IpRanges"] = [{"CidrIp": f"198.51.{rng.randint(0, 255)}.0/24", **extra}]
    elif peer == "group" and peer_group:
        permission["UserIdGroupPairs"] = [{"GroupId": peer_group, **extra}]
    else:
        cidr = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24"
        permission["IpRanges"] = [{"CidrIp": cidr, **extra}]
    egress = peer in ("internal", "partner") and rng.random() < 0.25
    return permission, egress


def permission_key(group_id: str, permission: dict, egress: bool) -> tuple:
    peers = tuple(
        sorted(
            str(p.get("CidrIp") or p.get("CidrIpv6") or p.get("GroupId"))
            for key in ("IpRanges", "Ipv6Ranges", "UserIdGroupPairs")
            for p in permission.get(key, [])
        )
    )
    return (
        group_id,
        egress,
        permission["IpProtocol"],
        permission.get("FromPort"),
        permission.get("ToPort"),
        peers,
    )


class Command(BaseCommand):
    help = (
        "Make varied security-group changes in the demo's AWS emulator and deliver them "
        "through EventBridge and the organization trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", default="demo")
        parser.add_argument("--interval", type=float, default=20.0, help="seconds between changes")
        parser.add_argument("--count", type=int, default=0, help="stop after N (0: never)")
        parser.add_argument(
            "--trail-share",
            type=float,
            default=0.5,
            help="share of changes also written to the trail's bucket (0..1)",
        )
        parser.add_argument(
            "--eventbridge-url",
            default="",
            help="the EventBridge endpoint (default: SITE_URL + /ingest/eventbridge/<tenant>/)",
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable)")

    def handle(self, *args, tenant: str, interval: float, count: int, **options) -> None:
        from devtools import demo_aws

        if not os.environ.get("AWS_ENDPOINT_URL"):
            raise CommandError("demo_trickle only runs against an AWS emulator (AWS_ENDPOINT_URL).")
        try:
            tenant_obj = Tenant.objects.get(slug=tenant)
        except Tenant.DoesNotExist:
            raise CommandError(f"No tenant {tenant!r}: run `manage.py seed_demo` first.") from None
        accounts = list(AwsAccount.objects.for_tenant(tenant_obj).filter(active=True))
        if not accounts:
            raise CommandError(f"Tenant {tenant!r} has no active accounts.")
        url = options["eventbridge_url"] or settings.SITE_URL.rstrip("/") + reverse(
            "ingest_eventbridge", args=[tenant]
        )
        trail_share = options["trail_share"]
        trail_s3 = None
        if trail_share > 0:
            demo_aws.ensure_trail()
            trail_s3 = demo_aws.session_in(
                f"arn:aws:iam::{demo_aws.LOG_ACCOUNT}:role/OrganizationAccountAccessRole",
                name="demo-trail",
            ).client("s3")
        rng = random.Random(options["seed"])  # noqa: S311 (demo data, not security)
        world = _World(tenant_obj, rng)
        made = 0
        while not count or made < count:
            account = rng.choice(accounts)
            region = rng.choice(account.regions or ["us-east-1"])
            try:
                record = world.change(account, region)
            except ClientError as exc:
                self.stderr.write(f"emulator refused: {exc.response['Error'].get('Code')}: {exc}")
                time.sleep(1)
                continue
            status, answer = _deliver_eventbridge(demo_aws, url, record)
            via = [f"EventBridge {status}"]
            if trail_s3 is not None and rng.random() < trail_share:
                key = demo_aws.write_trail_file([record], s3=trail_s3)
                via.append(f"trail s3://{demo_aws.TRAIL_BUCKET}/{key.rsplit('/', 1)[-1]}")
            made += 1
            self.stdout.write(
                f"{record['eventName']} on {record['requestParameters']['groupId']} in "
                f"{account.name}/{region} by {record['userIdentity']['arn'].rsplit('/', 1)[-1]}: "
                f"{'; '.join(via)}" + ("" if status == 200 else f" ({answer[:300]})")
            )
            if not count or made < count:
                time.sleep(interval)


def _deliver_eventbridge(demo_aws, url: str, record: dict) -> tuple[int, str]:
    """POST the event; the web server may still be starting: wait for it (up to 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return demo_aws.post_eventbridge(url, [demo_aws.eventbridge_event(record)])
        except OSError as exc:
            if time.monotonic() > deadline:
                return 0, str(exc)
            time.sleep(1)


class _World:
    """The demo organization's groups in the emulator, and the rules already on them."""

    def __init__(self, tenant: Tenant, rng: random.Random) -> None:
        self.tenant, self.rng = tenant, rng
        self.clients: dict[tuple[str, str], object] = {}
        self.groups: dict[tuple[str, str], list[str]] = {}
        self.vpcs: dict[tuple[str, str], str] = {}
        self.taken: set[tuple] = set()

    def ec2(self, account: AwsAccount, region: str):
        key = (account.account_id, region)
        if key not in self.clients:
            from devtools.demo_aws import session_in

            session = session_in(
                account.spoke_role_arn,
                external_id=self.tenant.external_id,
                name="sgportal-demo-trickle",
            )
            self.clients[key] = session.client("ec2", region_name=region)
        return self.clients[key]

    def group(self, account: AwsAccount, region: str) -> tuple[str, str]:
        """A group of the account/region (a new tier now and then); (group, another one)."""
        ec2, key = self.ec2(account, region), (account.account_id, region)
        groups = self.groups.setdefault(key, [])
        if key not in self.vpcs:
            cidr = f"10.{self.rng.randint(16, 31)}.0.0/16"
            self.vpcs[key] = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        if len(groups) < len(TIERS) and (not groups or self.rng.random() < 0.3):
            name = TIERS[len(groups)]
            groups.append(
                ec2.create_security_group(
                    GroupName=name, Description=f"{name} tier", VpcId=self.vpcs[key]
                )["GroupId"]
            )
        group = self.rng.choice(groups)
        others = [g for g in groups if g != group]
        return group, (self.rng.choice(others) if others else "")

    def change(self, account: AwsAccount, region: str) -> dict:
        """Authorize a permission the group does not have yet; the CloudTrail record."""
        ec2 = self.ec2(account, region)
        group, peer_group = self.group(account, region)
        for _ in range(20):
            permission, egress = random_permission(self.rng, peer_group)
            key = permission_key(group, permission, egress)
            if key not in self.taken:
                break
        self.taken.add(key)
        actor, agent = self.rng.choice(ACTORS)
        source_ip = self.rng.choice(SOURCE_IPS)
        return simulate.authorize(
            ec2,
            group_id=group,
            permissions=[permission],
            account_id=account.account_id,
            region=region,
            egress=egress,
            actor_arn=actor.format(account=account.account_id),
            user_agent=agent,
            source_ip=source_ip,
        )
