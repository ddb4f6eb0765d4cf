"""Benchmark: the cost of record_audit (appending to a tenant's audit chain) on PostgreSQL.

    scripts/with-services .venv/bin/python bench/audit_append.py [--n 2000] [--writers 4]

Migrates the throwaway database from DATABASE_URL, then appends N entries to one tenant's
chain, each in its own transaction (as actions do): first from one writer, then from
several writers at once (they queue on the tenant's chain head). Prints entries/s for both
and checks that the chain verifies afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def append(tenant_id: int, count: int, label: str) -> None:
    from django.db import connection, transaction

    from sgportal.audit import record_audit
    from sgportal.models import AuditAction

    try:
        for i in range(count):
            with transaction.atomic():
                record_audit(
                    tenant_id,
                    AuditAction.UPDATE,
                    actor=label,
                    object_type="bench.Thing",
                    object_id=i,
                    object_repr=f"thing {i}",
                    before={"n": i, "cidr": "10.0.0.0/8"},
                    after={"n": i + 1, "cidr": "0.0.0.0/0"},
                )
    finally:
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Run under scripts/with-services (needs DATABASE_URL=postgres://...).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sgportal.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command

    from sgportal.audit import verify_chain
    from sgportal.models import Tenant

    call_command("migrate", verbosity=0)
    one = Tenant.objects.create(slug="bench-one", name="Bench one")
    many = Tenant.objects.create(slug="bench-many", name="Bench many")
    append(one.pk, 20, "warm-up")

    start = time.perf_counter()
    append(one.pk, args.n, "single")
    single = args.n / (time.perf_counter() - start)

    per_writer = args.n // args.writers
    threads = [
        threading.Thread(target=append, args=(many.pk, per_writer, f"writer-{w}"))
        for w in range(args.writers)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    concurrent = per_writer * args.writers / (time.perf_counter() - start)

    for tenant in (one, many):
        report = verify_chain(tenant)
        assert report.ok, report.error
    print(f"record_audit, 1 writer:  {single:8.0f} entries/s ({args.n} entries)")
    print(
        f"record_audit, {args.writers} writers: {concurrent:8.0f} entries/s "
        f"({per_writer * args.writers} entries, one tenant)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
