"""Deny -> confirmed revert latency through a real Celery worker against a moto server.

    scripts/with-services .venv/bin/python bench/revert_latency.py [-n 50]

For each of N rules: authorize it in a member account (moto server, assumed spoke role),
store the change and a deny decision, send ``change_decided`` (as approvals does) and wait
until the worker has revoked the rule and a describe has confirmed it (change status
``reverted``). Latency = attempt.finished_at - decision.decided_at. Two phases: one at a
time (idle latency), then all N at once (a burst, latency under load and reverts/s).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sgportal.settings")
QUEUE = f"remediation-bench-{uuid.uuid4().hex[:6]}"
os.environ["SGPORTAL_REMEDIATION_QUEUE"] = QUEUE


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, latencies: list[float], wall: float | None = None) -> None:
    ms = [v * 1000 for v in latencies]
    line = (
        f"{name:<10} n={len(ms):>3}  p50={percentile(ms, 50):7.1f} ms  "
        f"p95={percentile(ms, 95):7.1f} ms  p99={percentile(ms, 99):7.1f} ms  "
        f"mean={statistics.fmean(ms):7.1f} ms  max={max(ms):7.1f} ms"
    )
    if wall:
        line += f"  throughput={len(ms) / wall:.1f} reverts/s"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = parser.parse_args()

    import django

    django.setup()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    if connection.vendor != "postgresql":
        print("warning: not PostgreSQL; run through scripts/with-services", file=sys.stderr)
    call_command("migrate", verbosity=0)

    from approvals.models import Decision
    from ingestion.models import ChangeStatus, SecurityGroupChange
    from remediation import aws
    from remediation.models import RevertAttempt
    from sgportal.events import change_decided
    from sgportal.models import AwsAccount, Tenant
    from tests.e2e import worker as w
    from tests.remediation import helpers as h

    with w.moto_server() as endpoint:
        os.environ.update(w.FAKE_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        aws.clear_cache()
        # A tenant of its own: `make bench` runs the other benchmarks on the same database.
        tenant, _ = Tenant.objects.get_or_create(
            slug="bench-revert", defaults={"name": "Bench (reverts)"}
        )
        account, _ = AwsAccount.objects.get_or_create(
            tenant=tenant,
            account_id="111111111111",
            defaults={
                "name": "bench-member",
                "spoke_role_arn": "arn:aws:iam::111111111111:role/SgGuardSpoke",
            },
        )
        # Reverts need a verified account; the moto server cannot pass the role check (it
        # does not evaluate trust policies), so the bench verifies it by fiat.
        AwsAccount.objects.filter(pk=account.pk, verified_at=None).update(
            verified_at=timezone.now()
        )
        ec2 = h.member_ec2(account)
        group = h.make_group(ec2)

        def new_change(port: int) -> SecurityGroupChange:
            rule = h.authorize(ec2, group, h.ingress(port))[0]
            return h.make_change(
                account,
                "AuthorizeSecurityGroupIngress",
                group,
                [h.rule_json("added", rule["definition"], rule["rule_id"])],
            )

        def decide(change: SecurityGroupChange) -> None:
            decision = Decision.objects.create(
                change=change,
                verdict="deny",
                via="web",
                actor_name="bench-reviewer",
                decided_at=timezone.now(),
            )
            change_decided.send(
                sender=None,
                change_id=change.pk,
                decision_id=decision.pk,
                tenant_id=change.tenant_id,
            )

        def latencies(changes: list[SecurityGroupChange]) -> list[float]:
            attempts = RevertAttempt.objects.filter(change__in=changes).select_related("decision")
            return [(a.finished_at - a.decision.decided_at).total_seconds() for a in attempts]

        log = Path(tempfile.mkdtemp()) / "worker.log"
        env = w.worker_env(
            database=w.database_url(connection.settings_dict),
            broker=settings.CELERY_BROKER_URL,
            endpoint=endpoint,
            SGPORTAL_REMEDIATION_QUEUE=QUEUE,
            SGPORTAL_REVERT_CONCURRENCY_PER_ACCOUNT=str(args.concurrency),
        )
        proc = w.start_worker(QUEUE, env, log, concurrency=args.concurrency)
        try:
            print(
                f"revert latency: N={args.n}, worker concurrency={args.concurrency}, "
                f"db={connection.vendor}, AWS=moto server {endpoint}",
                flush=True,
            )
            warm = new_change(1)
            decide(warm)
            w.wait_for(lambda: _done(warm), 60, f"the worker to start (log {log})")

            serial = []
            for i in range(args.n):
                change = new_change(2000 + i)
                decide(change)
                w.wait_for(lambda c=change: _done(c), 60, "a revert", interval=0.005)
                serial.append(change)
            report("one-by-one", latencies(serial))

            burst = [new_change(10000 + i) for i in range(args.n)]
            start = time.monotonic()
            for change in burst:
                decide(change)
            ids = [c.pk for c in burst]
            # One cheap query per 50 ms: the moto server shares this process's GIL.
            w.wait_for(
                lambda: (
                    not SecurityGroupChange.objects.filter(
                        pk__in=ids, status__in=[ChangeStatus.DENIED, ChangeStatus.REVERTING]
                    ).exists()
                ),
                300,
                "the burst",
                interval=0.05,
            )
            wall = time.monotonic() - start
            report("burst", latencies(burst), wall)
            failed = SecurityGroupChange.objects.filter(
                pk__in=[c.pk for c in serial + burst]
            ).exclude(status=ChangeStatus.REVERTED)
            remaining = {r["rule_id"] for r in h.group_rules(ec2, group)}
            print(f"not reverted: {failed.count()}; rules left in the group: {len(remaining)}")
            tries = RevertAttempt.objects.filter(change__in=burst).values_list("tries", flat=True)
            print(f"burst: AWS tries per attempt: max={max(tries)}; worker log: {log}")
            peaks = _peak_rss_mib(proc.pid)
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                "peak RSS: worker processes "
                + ", ".join(f"{mib:.0f}" for mib in peaks)
                + f" MiB; bench + moto server {own:.0f} MiB"
            )
        finally:
            w.kill_worker(proc)


def _peak_rss_mib(pgid: int) -> list[float]:
    """VmHWM of every process in the worker's process group (main + pool children)."""
    peaks = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return sorted(peaks, reverse=True)


def _done(change) -> bool:
    from ingestion.models import ChangeStatus

    change.refresh_from_db(fields=["status"])
    if change.status == ChangeStatus.REVERT_FAILED:
        raise RuntimeError(f"revert of change {change.pk} failed")
    return change.status == ChangeStatus.REVERTED


if __name__ == "__main__":
    main()
