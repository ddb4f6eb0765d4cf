"""Benchmark: synthetic CloudTrail records through the parser and the dedup bulk insert.

    scripts/with-services .venv/bin/python bench/ingest.py [--n 200000] [--page 1000]

Reads DATABASE_URL (PostgreSQL), creates a scratch database beside it, migrates it, and
runs two sizes (N/4 and N), each in a fresh process so peak memory (ru_maxrss) of the two
can be compared: if memory is flat, the larger run peaks no higher than the smaller one.
Records are built from the shared fixture shapes (a realistic mix of event types, with
varied event ids, times, groups and accounts) as Lake's eventJson text, in pages of 1000.
Every tenth page re-sends half of the previous page, as overlapping poll windows do.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures" / "cloudtrail"

# (fixture number, weight): mostly rule changes, some failures, create/delete, our reverts.
MIX = [(1, 25), (2, 10), (3, 10), (4, 8), (5, 12), (6, 10), (7, 7), (8, 9), (9, 9)]
ACCOUNTS = [f"{100000000000 + i * 1111:012d}" for i in range(40)]
REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2"]


def templates() -> list[tuple[str, int]]:
    """Compact JSON text of each fixture, with placeholders for what varies."""
    out = []
    for number, weight in MIX:
        path = next(FIXTURES.glob(f"{number:02d}_*.json"))
        record = json.loads(path.read_text())
        record["eventID"] = "@EVENTID@"
        record["eventTime"] = "@TIME@"
        record["recipientAccountId"] = "@ACCOUNT@"
        record["awsRegion"] = "@REGION@"
        text = json.dumps(record, separators=(",", ":"))
        text = text.replace(record.get("requestParameters", {}).get("groupId") or "@@", "@GROUP@")
        out.append((text, weight))
    return out


def synthetic(n: int, seed: int = 7) -> Iterator[str]:
    """N eventJson strings, generated lazily (the source never holds them all)."""
    rng = random.Random(seed)
    texts, weights = zip(*templates(), strict=True)
    chosen = rng.choices(range(len(texts)), weights=weights, k=min(n, 100_000))
    for i in range(n):
        text = texts[chosen[i % len(chosen)]]
        seconds = i // 20
        yield (
            text.replace("@EVENTID@", f"{i:08x}-bbbb-4ccc-8ddd-{rng.getrandbits(48):012x}")
            .replace(
                "@TIME@",
                f"2026-09-{1 + seconds // 86400:02d}T"
                f"{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z",
            )
            .replace("@ACCOUNT@", ACCOUNTS[i % len(ACCOUNTS)])
            .replace("@REGION@", REGIONS[i % len(REGIONS)])
            .replace("@GROUP@", f"sg-{rng.getrandbits(64):017x}"[:20])
        )


def pages(records: Iterator[str], size: int) -> Iterator[list[str]]:
    page: list[str] = []
    previous: list[str] = []
    count = 0
    for text in records:
        page.append(text)
        if len(page) == size:
            count += 1
            if count % 10 == 0 and previous:  # an overlapping window re-reads events
                page = page + previous[: size // 2]
            yield page
            previous, page = page[:size], []
    if page:
        yield page


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_child(n: int, page_size: int) -> dict:
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # DEBUG keeps every query (and its parameters) in memory
    from ingestion.models import SecurityGroupChange, Source
    from ingestion.parser import parse_text
    from ingestion.readahead import read_ahead
    from ingestion.store import account_pks, own_role_arns, prepare_page, store_prepared
    from sgportal.models import AwsAccount, Tenant

    tenant = Tenant.objects.create(slug=f"bench-{n}", name=f"Bench {n}")  # a fresh tenant
    # The earlier run's tenant lets go of them (ingestion only: no revert, none verified).
    AwsAccount.objects.filter(account_id__in=ACCOUNTS[:10]).delete()
    for account_id in ACCOUNTS[:10]:
        AwsAccount.objects.create(
            tenant=tenant,
            account_id=account_id,
            name=account_id,
            spoke_role_arn=f"arn:aws:iam::{account_id}:role/SgGuardSpoke",
        )
    roles = own_role_arns(tenant)

    page_times: list[float] = []
    store_s = 0.0
    rows = new = dup = 0

    accounts = account_pks(tenant)

    def parse(page: list[str]) -> list:
        return [parse_text(text, own_role_arns=roles) for text in page]

    def prepare(page: list[str]):
        return prepare_page(tenant.pk, parse(page), source=Source.LAKE, accounts=accounts)

    backend = _backend_pid()
    pg_cpu_before, py_cpu_before = _proc_cpu_s(backend), time.process_time()
    started = time.perf_counter()
    # The poller's own loop: the next page is parsed and prepared (read_ahead) while this
    # one is written.
    for page, prepared in read_ahead(pages(synthetic(n), page_size), prepare):
        t0 = time.perf_counter()
        result = store_prepared(prepared)
        t1 = time.perf_counter()
        store_s += t1 - t0
        page_times.append(t1 - t0)
        rows += len(page)
        new += result.new
        dup += result.duplicates
    elapsed = time.perf_counter() - started
    py_cpu = time.process_time() - py_cpu_before
    pg_cpu = _proc_cpu_s(backend) - pg_cpu_before
    stored = SecurityGroupChange.objects.filter(tenant=tenant).count()
    parse_started = time.perf_counter()
    parse_rows = sum(len(parse(page)) for page in pages(synthetic(min(n, 20_000)), page_size))
    parse_only_per_s = parse_rows / (time.perf_counter() - parse_started)
    return {
        "n": n,
        "rows": rows,
        "new": new,
        "duplicates": dup,
        "stored": stored,
        "seconds": elapsed,
        "events_per_s": rows / elapsed,
        "parse_per_s": parse_only_per_s,
        "store_wait_per_s": rows / store_s,
        "page_p50_ms": 1000 * percentile(page_times, 0.50),
        "page_p95_ms": 1000 * percentile(page_times, 0.95),
        "page_p99_ms": 1000 * percentile(page_times, 0.99),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "python_cpu_us": 1e6 * py_cpu / rows,
        "postgres_cpu_us": 1e6 * pg_cpu / rows if pg_cpu >= 0 else float("nan"),
    }


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a local process, -inf when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("-inf")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="records in the large run")
    parser.add_argument("--page", type=int, default=1000, help="records per page (Lake: 1000)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sgportal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    if args.child:
        print(json.dumps(run_child(args.child, args.page)))
        return 0

    from scratch import scratch_database

    with scratch_database("bench/ingest.py") as url:
        env = {**os.environ, "DATABASE_URL": url}
        results = []
        for n in (args.n // 4, args.n):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n), "--page", str(args.page)],
                env=env,
                check=False,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print(f"ingest benchmark: parse + dedup bulk upsert into PostgreSQL, pages of {args.page}")
    print("events/s: end to end; parse/s: parser alone; store/s: inside store_prepared;")
    print("p50/p95/p99: milliseconds to store one page; peak MB: ru_maxrss of the run")
    header = (
        f"{'N':>8} {'rows':>8} {'new':>8} {'dup':>6} {'events/s':>9} {'parse/s':>9} "
        f"{'store/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'peak MB':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{r['n']:>8} {r['rows']:>8} {r['new']:>8} {r['duplicates']:>6} "
            f"{r['events_per_s']:>9.0f} {r['parse_per_s']:>9.0f} {r['store_wait_per_s']:>9.0f} "
            f"{r['page_p50_ms']:>7.1f} {r['page_p95_ms']:>7.1f} {r['page_p99_ms']:>7.1f} "
            f"{r['peak_rss_mb']:>8.1f}"
        )
        assert r["stored"] == r["new"] == r["n"], r  # every record once, duplicates skipped
    for r in results:
        python_us, postgres_us = r["python_cpu_us"], r["postgres_cpu_us"]
        print(
            f"N={r['n']}: CPU per event: {python_us:.0f} us in this process (parse + store), "
            f"{postgres_us:.0f} us in its PostgreSQL backend; with a core each and the "
            f"read-ahead overlapping them: ~{1e6 / max(python_us, postgres_us):.0f} events/s"
        )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    small, large = results
    growth = large["peak_rss_mb"] - small["peak_rss_mb"]
    print(f"peak memory grew {growth:+.1f} MB for {large['n'] / small['n']:.0f}x the records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
