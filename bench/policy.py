"""Benchmark: policy evaluation, the deadline sweep, and a burst of notifications (issue 15).

    scripts/with-services .venv/bin/python bench/policy.py [--changes 100000]

1. Evaluation: a tenant with 500 rules and 1,000 exceptions (varied accounts, regions,
   events, ports, CIDRs, globs); p50/p99 of ``evaluate`` per change over 5,000 changes.
   Target p99 < 1 ms.
2. Deadline sweep: N pending changes with a PolicyMatch each, all past their deadline;
   time to claim every row (one conditional UPDATE ... SKIP LOCKED per 5,000) and hand
   them to workers in chunks (publishing stubbed: the broker is not what is measured).
   Target < 2 s for 100,000.
3. Burst: 500 changes from one actor under one rule (limit 10 per window) through the
   policy step; counts the Slack posts it queues (individual + digests).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=100_000)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Run under scripts/with-services (needs DATABASE_URL=postgres://...).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sgportal.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    import datetime as dt
    import ipaddress
    from types import SimpleNamespace

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from approvals.policy import deadlines, digest
    from approvals.policy.engine import compile_policy, evaluate
    from approvals.policy.matcher import Facts, Perm
    from approvals.policy.models import DeadlineStage, PolicyMatch
    from ingestion.models import SecurityGroupChange
    from sgportal.models import AwsAccount, Tenant

    call_command("migrate", verbosity=0)
    rnd = random.Random(15)
    accounts = [f"{100000000000 + i}" for i in range(50)]
    regions = ["eu-west-1", "us-east-1", "us-west-2", "ap-south-1", "eu-central-1"]
    events = [
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "ModifySecurityGroupRules",
    ]
    tenant = Tenant.objects.create(slug="bench-policy", name="Bench policy")

    def spec() -> dict:
        s: dict = {}
        if rnd.random() < 0.8:
            s["accounts"] = rnd.sample(accounts, rnd.randint(1, 3))
        if rnd.random() < 0.5:
            s["regions"] = rnd.sample(regions, 2)
        if rnd.random() < 0.5:
            s["event_names"] = [rnd.choice(events)]
        if rnd.random() < 0.4:
            s["ports"] = str(rnd.choice([22, 80, 443, 3306, 5432, 8080]))
        if rnd.random() < 0.3:
            s["peer_cidrs"] = [f"10.{rnd.randint(0, 255)}.0.0/16"]
        if rnd.random() < 0.2:
            s["actor_arns"] = [f"arn:aws:iam::*:role/team-{rnd.randint(0, 40)}-*"]
        return s or {"group_names": [f"svc-{rnd.randint(0, 999)}-*"]}

    rules = [
        SimpleNamespace(
            pk=i + 1,
            name=f"rule-{i}",
            enabled=True,
            match=spec(),
            severity=rnd.randint(0, 4),
            action=rnd.choice(["review", "auto_approve", "auto_revert", "notify"]),
            slack_channel="",
            reviewer_group_id=None,
            escalation_group_id=None,
            escalation_channel="",
            deadline_minutes=60,
            default_outcome="escalate",
            notify_limit=10,
            notify_window_s=60,
        )
        for i in range(500)
    ]
    far = timezone.now() + dt.timedelta(days=30)
    exceptions = [
        SimpleNamespace(
            pk=i + 1,
            match={
                "accounts": [rnd.choice(accounts)],
                "group_ids": [f"sg-{rnd.randint(0, 5000):08x}"],
            },
            expires_at=far,
            owner_name="bench",
        )
        for i in range(1000)
    ]
    start = time.perf_counter()
    policy = compile_policy(tenant, rules, exceptions)
    compile_ms = (time.perf_counter() - start) * 1000

    def facts() -> Facts:
        port = rnd.choice([22, 80, 443, 3306, 5432, 8080, 9000])
        cidr = rnd.choice(["0.0.0.0/0", f"10.{rnd.randint(0, 255)}.1.0/24", "192.168.0.0/16"])
        return Facts(
            account=rnd.choice(accounts),
            region=rnd.choice(regions),
            event_name=rnd.choice(events),
            group_id=f"sg-{rnd.randint(0, 5000):08x}",
            group_name=f"svc-{rnd.randint(0, 999)}-api",
            actor_arn=f"arn:aws:sts::{rnd.choice(accounts)}:assumed-role/"
            f"team-{rnd.randint(0, 40)}-ci/x",
            actor_type="AssumedRole",
            tool="Terraform",
            source="eventbridge",
            perms=(
                Perm("added", "ingress", "tcp", port, port, ipaddress.ip_network(cidr), "", ""),
            ),
        )

    samples = [facts() for _ in range(5000)]
    now = timezone.now()
    for f in samples[:200]:
        evaluate(policy, f, now)
    times = []
    for f in samples:
        t0 = time.perf_counter_ns()
        evaluate(policy, f, now)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    times.sort()
    p50, p99 = statistics.median(times), times[int(len(times) * 0.99)]
    print(f"compile 500 rules + 1,000 exceptions: {compile_ms:.0f} ms")
    print(
        f"evaluate per change: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {times[-1]:.3f} ms "
        f"(target p99 < 1 ms) {'OK' if p99 < 1 else 'SLOW'}"
    )

    # --- deadline sweep ---------------------------------------------------------------
    account = AwsAccount.objects.create(tenant=tenant, account_id="999999999999", name="b")
    n = args.changes
    past = timezone.now() - dt.timedelta(minutes=1)
    batch = 10_000
    for offset in range(0, n, batch):
        rows = [
            SecurityGroupChange(
                tenant=tenant,
                account=account,
                event_id=f"bench-{offset + i}",
                source="manual",
                event_name="AuthorizeSecurityGroupIngress",
                raw={},
            )
            for i in range(min(batch, n - offset))
        ]
        created = SecurityGroupChange.objects.bulk_create(rows)
        PolicyMatch.objects.bulk_create(
            PolicyMatch(
                change=c,
                tenant=tenant,
                rule_name="bench",
                action="review",
                deadline_minutes=60,
                default_outcome="escalate",
                due_at=past,
                stage=DeadlineStage.WAITING,
            )
            for c in created
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    handed = []
    real_enqueue = deadlines.publish.enqueue
    deadlines.publish.enqueue = lambda task, args=(), **kw: handed.append(len(args[0]))
    digest.resume_digests = lambda now, stale_after_s=120: 0
    start = time.perf_counter()
    counts = deadlines.sweep()
    took = time.perf_counter() - start
    print(
        f"deadline sweep over {n:,} pending changes (all due): {took:.2f} s, "
        f"{counts['claimed']:,} claimed in {len(handed)} chunks "
        f"(target < 2 s) {'OK' if took < 2 else 'SLOW'}"
    )
    start = time.perf_counter()
    again = deadlines.sweep()
    print(
        f"second sweep right after (nothing due, all leased): {time.perf_counter() - start:.3f} s, "
        f"{again['claimed']} claimed"
    )
    deadlines.publish.enqueue = real_enqueue
    start = time.perf_counter()
    sample = list(PolicyMatch.objects.filter(tenant=tenant).values_list("pk", flat=True)[:200])
    PolicyMatch.objects.filter(pk__in=sample).update(default_outcome="approve")
    deadlines.act_on(sample)
    per = (time.perf_counter() - start) / len(sample) * 1000
    print(f"applying a default outcome (decide via policy): {per:.1f} ms per change in a worker")

    # --- burst ------------------------------------------------------------------------
    from approvals.policy.models import PolicyRule

    queued = []
    digest.queue_notification = lambda change, channel="": queued.append(change.pk)
    digest.publish.enqueue = lambda task, args=(), **kw: queued.append(("digest", args[0]))
    PolicyRule.objects.create(tenant=tenant, name="tf", match={}, notify_limit=10)
    burst = SecurityGroupChange.objects.bulk_create(
        SecurityGroupChange(
            tenant=tenant,
            account=account,
            event_id=f"burst-{i}",
            source="manual",
            event_name="AuthorizeSecurityGroupIngress",
            actor_arn="arn:aws:sts::999999999999:assumed-role/terraform/apply",
            raw={},
        )
        for i in range(500)
    )
    from django.db import transaction

    from approvals.policy.apply import apply_policy

    start = time.perf_counter()
    with transaction.atomic():
        counts = apply_policy(tenant.pk, [c.pk for c in burst])
    took = time.perf_counter() - start
    singles = sum(1 for q in queued if not isinstance(q, tuple))
    digests = {q[1] for q in queued if isinstance(q, tuple)}
    print(
        f"burst of 500 from one actor: {singles} individual posts + {len(digests)} grouped "
        f"message(s) (policy step {took:.2f} s); {counts}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
