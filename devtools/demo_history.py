"""Two weeks of history for the demo tenant, so /dashboard/ has something to show at once.

Changes of the past days (CloudTrail records through the shared parser, stored with the
day they arrived), and what happened to them: approved or denied by the demo reviewer on
the web or in Slack, auto-approved by the policy, reverted (a finished revert attempt) and
now and then a revert that failed. Written as rows directly: this is the past, so nothing
is announced (no policy run, no Slack post, no worker task). Dev-only (seed_demo).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

from django.db import transaction
from django.utils import timezone

from approvals.models import Decision, Verdict, Via
from approvals.rating import rate_at_ingest
from ingestion.models import SOURCE_BITS, ChangeStatus, SecurityGroupChange, Source
from ingestion.parser import parse_record
from remediation.models import AttemptStatus, Outcome, RevertAttempt
from sgportal.models import AwsAccount, Tenant

HISTORY_PREFIX = "demo-history-"
PEERS = [
    ("0.0.0.0/0", 4),
    ("203.0.113.0/24", 3),
    ("10.20.0.0/16", 4),
    ("198.51.100.0/24", 2),
]
PORTS = [(22, 4), (443, 5), (3389, 1), (5432, 2), (8080, 2), (6379, 1)]
ACTORS = [
    "arn:aws:iam::{account}:user/alice",
    "arn:aws:iam::{account}:user/carol",
    "arn:aws:sts::{account}:assumed-role/terraform-deploy/ci-run",
    "arn:aws:sts::{account}:assumed-role/AWSReservedSSO_Admin/bob",
]


def _record(account_id: str, region: str, when: dt.datetime, rng: random.Random) -> dict:
    port = rng.choices([p for p, _ in PORTS], [w for _, w in PORTS])[0]
    cidr = rng.choices([c for c, _ in PEERS], [w for _, w in PEERS])[0]
    group = f"sg-{rng.getrandbits(64):017x}"[:20]
    arn = rng.choice(ACTORS).format(account=account_id)
    assumed = ":assumed-role/" in arn
    identity = {"type": "AssumedRole" if assumed else "IAMUser", "arn": arn}
    identity["accountId"] = account_id
    if assumed:
        role = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
        identity["sessionContext"] = {
            "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account_id}:role/{role}"}
        }
    else:
        identity["userName"] = arn.rsplit("/", 1)[-1]
    return {
        "eventVersion": "1.10",
        "userIdentity": identity,
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "aws-cli/2.17.42 md/command#ec2.authorize-security-group-ingress",
        "requestParameters": {
            "groupId": group,
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": port,
                        "toPort": port,
                        "ipRanges": {"items": [{"cidrIp": cidr}]},
                        "ipv6Ranges": {},
                        "prefixListIds": {},
                        "groups": {},
                    }
                ]
            },
        },
        "responseElements": {
            "requestId": str(uuid.uuid4()),
            "_return": True,
            "securityGroupRuleSet": {
                "items": [
                    {
                        "groupOwnerId": account_id,
                        "groupId": group,
                        "securityGroupRuleId": f"sgr-{rng.getrandbits(64):017x}"[:21],
                        "isEgress": False,
                        "ipProtocol": "tcp",
                        "fromPort": port,
                        "toPort": port,
                        "cidrIpv4": cidr,
                    }
                ]
            },
        },
        "requestID": str(uuid.uuid4()),
        "eventID": f"{HISTORY_PREFIX}{uuid.uuid4()}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }


@transaction.atomic
def seed_history(tenant: Tenant, reviewer, *, days: int = 13, seed: int = 16) -> int:
    """Changes and decisions of the past ``days`` days (once: skipped when present)."""
    if SecurityGroupChange.objects.filter(
        tenant=tenant, event_id__startswith=HISTORY_PREFIX
    ).exists():
        return 0
    rng = random.Random(seed)  # noqa: S311 (demo data)
    accounts = list(AwsAccount.objects.filter(tenant=tenant, active=True))
    now = timezone.now()
    made = 0
    for back in range(days, 0, -1):
        weekend = (now - dt.timedelta(days=back)).weekday() >= 5
        for _ in range(rng.randint(1, 4) if weekend else rng.randint(5, 14)):
            account = rng.choice(accounts)
            region = rng.choice(account.regions or ["us-east-1"])
            arrived = now - dt.timedelta(days=back, minutes=rng.randint(0, 9 * 60))
            parsed = parse_record(_record(account.account_id, region, arrived, rng))
            values = parsed.model_fields()
            change = SecurityGroupChange.objects.create(
                **values,
                tenant=tenant,
                account=account,
                source=Source.EVENTBRIDGE,
                sources=SOURCE_BITS[Source.EVENTBRIDGE] | SOURCE_BITS[Source.TRAIL],
                severity=rate_at_ingest(values["rules"], False, values["status"]),
            )
            # ingested_at is auto_now_add (create ignores a value): move it into the past.
            change.ingested_at = arrived + dt.timedelta(seconds=rng.randint(2, 40))
            SecurityGroupChange.objects.filter(pk=change.pk).update(ingested_at=change.ingested_at)
            _decide_in_the_past(change, reviewer, rng)
            made += 1
    return made


def _decide_in_the_past(change: SecurityGroupChange, reviewer, rng: random.Random) -> None:
    internal = all(str(r.get("cidr_ipv4", "")).startswith("10.") for r in change.rules)
    if internal:  # what the demo policy's first rule auto-approves
        verdict, via, status = Verdict.APPROVE, Via.POLICY, ChangeStatus.AUTO_APPROVED
        actor, waited = "policy: rule 'Internal networks (10.0.0.0/8)'", 0
    else:
        deny = rng.random() < (0.7 if change.severity >= 3 else 0.25)
        verdict = Verdict.DENY if deny else Verdict.APPROVE
        via = rng.choice([Via.WEB, Via.SLACK, Via.SLACK])
        status = ChangeStatus.REVERTED if deny else ChangeStatus.APPROVED
        actor = f"{reviewer.get_username()} <{reviewer.email}>"
        waited = rng.choice([2, 4, 7, 11, 18, 25, 40, 65, 120, 240])
    decided_at = change.ingested_at + dt.timedelta(minutes=waited, seconds=rng.randint(5, 50))
    decision = Decision.objects.create(
        change=change,
        verdict=verdict,
        via=via,
        user=None if via == Via.POLICY else reviewer,
        actor_name=actor,
        reason="demo history" if verdict == Verdict.DENY else "",
        decided_at=decided_at,
    )
    if verdict == Verdict.DENY:
        failed = rng.random() < 0.08
        RevertAttempt.objects.create(
            change=change,
            decision=decision,
            status=AttemptStatus.FAILED if failed else AttemptStatus.DONE,
            outcome=Outcome.REVERT_FAILED if failed else Outcome.REVERTED,
            actor_name=actor,
            error_code="UnauthorizedOperation" if failed else "",
            detail="the spoke role lacks ec2:RevokeSecurityGroupIngress" if failed else "",
            started_at=decided_at + dt.timedelta(seconds=1),
            finished_at=decided_at + dt.timedelta(seconds=2),
        )
        if failed:
            status = ChangeStatus.REVERT_FAILED
    SecurityGroupChange.objects.filter(pk=change.pk).update(
        status=status, status_changed_at=decided_at
    )
