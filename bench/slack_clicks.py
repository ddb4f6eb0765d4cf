"""Benchmark: POST /slack/interactions/ latency under 50 concurrent, properly signed clicks.

    scripts/with-services .venv/bin/python bench/slack_clicks.py [--rounds 3]

Against the PostgreSQL and Redis that ``scripts/with-services`` starts: migrates, seeds a
tenant with N pending changes (each with its Slack message) and N linked approvers, starts
gunicorn on 127.0.0.1 with the project's gunicorn.conf.py (what production runs; --workers
and --threads override it), then per round fires N clicks at once (a barrier releases
them together), each signed as Slack signs (v0:ts:body HMAC-SHA256). Prints p50/p95/p99,
max, errors, and checks that every click produced exactly one decision. Target: p99 < 300 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import runpy
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret-0123456789abcdef"  # noqa: S105 (throwaway, bench only)
TEAM = "TBENCH001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    if not env.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Run under scripts/with-services (needs DATABASE_URL=postgres://...).")
    env.update(
        DEBUG="0",
        SECRET_KEY="bench-secret-key-" + "x" * 40,
        AUDIT_HMAC_KEY="bench-audit-hmac-key-" + "x" * 40,
        SECURE_SSL_REDIRECT="0",
        SLACK_SIGNING_SECRET=SECRET,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="sgportal.settings",
    )
    return env


def seed(count: int) -> list[tuple[str, str]]:
    """Create the tenant, ``count`` linked approvers and changes; (slack user, token) pairs."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from approvals.models import SlackMessage, SlackWorkspace
    from ingestion.models import SecurityGroupChange
    from ingestion.rules import Rule
    from sgportal.models import AwsAccount, Membership, SlackIdentity, Tenant

    # Deny decides at the click (the reason modal's views.open is not what this measures).
    tenant, _ = Tenant.objects.get_or_create(
        slug="bench", defaults={"name": "Bench", "deny_reason_required": False}
    )
    SlackWorkspace.objects.get_or_create(
        tenant=tenant, defaults={"team_id": TEAM, "channel_id": "CB"}
    )
    account, _ = AwsAccount.objects.get_or_create(
        tenant=tenant, account_id="111111111111", defaults={"name": "bench-prod"}
    )
    users = []
    user_model = get_user_model()
    for i in range(count):
        user, _ = user_model.objects.get_or_create(username=f"bench-approver-{i}")
        Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": "approver"})
        SlackIdentity.objects.get_or_create(
            team_id=TEAM,
            slack_user_id=f"UB{i:07d}",
            defaults={"tenant": tenant, "user": user, "verified_at": timezone.now()},
        )
        users.append(f"UB{i:07d}")
    start = SecurityGroupChange.objects.count()
    rule = Rule("added", "ingress", "tcp", 22, 22, cidr_ipv4="0.0.0.0/0").to_json()
    pairs = []
    for i in range(count):
        change = SecurityGroupChange.objects.create(
            tenant=tenant,
            account=account,
            event_id=f"bench-{start + i:08d}",
            source="manual",
            event_name="AuthorizeSecurityGroupIngress",
            event_time=timezone.now(),
            aws_account_id="111111111111",
            region="eu-west-1",
            group_id="sg-0bench",
            rules=[rule],
            raw={},
        )
        message = SlackMessage.objects.create(
            change=change, channel="CB", ts=f"1789372800.{i:06d}", status="posted"
        )
        pairs.append((users[i], message.action_token))
    return pairs


def signed_click(slack_user: str, token: str, action: str) -> tuple[bytes, dict[str, str]]:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "bench"},
        "user": {"id": slack_user, "username": slack_user, "team_id": TEAM},
        "actions": [{"action_id": action, "block_id": "decision", "value": token}],
        "response_url": "http://127.0.0.1:9/response/unused",
    }
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sig,
    }
    return body.encode(), headers


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/slack/interactions/", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        status = response.status
    finally:
        conn.close()
    elapsed = time.perf_counter() - started
    outcome = ""
    if status == 200:
        outcome = json.loads(data).get("outcome", "")
    return status, elapsed, outcome


def fire(port: int, clicks: list[tuple[bytes, dict]]) -> list[tuple[int, float, str]]:
    barrier = threading.Barrier(len(clicks))
    results: list = [None] * len(clicks)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = post(port, *clicks[i])
        except OSError as exc:
            results[i] = (0, float("nan"), f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clicks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("gunicorn did not become ready")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes (Linux /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def app_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [master, *kids]


def postgres_pids() -> list[int]:
    """The postmaster of our database (parent of this connection's backend) and its children."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    status = Path(f"/proc/{backend}/status").read_text()
    postmaster = int(
        next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1]
    )
    return app_pids(postmaster)


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, help="default: gunicorn.conf.py's")
    args = parser.parse_args()

    env = bench_env()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], check=True, env=env, cwd=ROOT
    )
    warmup = seed(args.clicks)
    sequential = seed(args.clicks)
    rounds = [seed(args.clicks) for _ in range(args.rounds)]

    port = free_port()
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    args.workers = args.workers or conf["workers"]
    args.threads = args.threads or conf["threads"]
    gunicorn = [
        sys.executable, "-m", "gunicorn", "sgportal.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
        "--threads", str(args.threads), "--log-level", "warning",
    ]  # fmt: skip
    if os.environ.get("BENCH_GUNICORN_CONF"):  # e.g. an access log with %(D)s timings
        gunicorn += ["-c", os.environ["BENCH_GUNICORN_CONF"]]
    proc = subprocess.Popen(gunicorn, env=env, cwd=ROOT)
    try:
        wait_ready(port, proc)
        # Warm up every worker thread (DB connection, broker connection, imports) with one
        # round of real clicks that is not counted.
        fire(port, [signed_click(user, token, "approve") for user, token in warmup])
        # One click at a time: the cost of a click without any queueing.
        alone = []
        for user, token in sequential:
            status, elapsed, outcome = post(port, *signed_click(user, token, "deny"))
            if status == 200 and outcome == "decided":
                alone.append(elapsed * 1000)
        print(
            f"sequential: {len(alone)} clicks one at a time  p50 {pct(alone, 50):6.1f} ms  "
            f"p99 {pct(alone, 99):6.1f} ms"
        )
        all_latencies: list[float] = []
        errors = 0
        app_cpu, db_cpu = cpu_seconds(app_pids(proc.pid)), cpu_seconds(postgres_pids())
        for number, pairs in enumerate(rounds, 1):
            clicks = [
                signed_click(user, token, "approve" if i % 2 else "deny")
                for i, (user, token) in enumerate(pairs)
            ]
            results = fire(port, clicks)
            latencies = [r[1] * 1000 for r in results if r[0] == 200]
            bad = [r for r in results if r[0] != 200 or r[2] != "decided"]
            errors += len(bad)
            all_latencies += latencies
            print(
                f"round {number}: {len(clicks)} concurrent clicks  "
                f"p50 {pct(latencies, 50):6.1f} ms  p95 {pct(latencies, 95):6.1f} ms  "
                f"p99 {pct(latencies, 99):6.1f} ms  max {max(latencies):6.1f} ms  "
                f"errors {len(bad)}" + (f"  e.g. {bad[0]}" if bad else "")
            )
        app_cpu = cpu_seconds(app_pids(proc.pid)) - app_cpu
        db_cpu = cpu_seconds(postgres_pids()) - db_cpu
        clicks_done = args.clicks * args.rounds
        print(
            f"CPU per click: app {app_cpu / clicks_done * 1000:.1f} ms, "
            f"PostgreSQL {db_cpu / clicks_done * 1000:.1f} ms"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    from approvals.models import Decision

    decided = Decision.objects.filter(change__tenant__slug="bench").count()
    expected = args.clicks * (args.rounds + 2)
    print(
        f"all: {len(all_latencies)} clicks  p50 {pct(all_latencies, 50):.1f} ms  "
        f"p95 {pct(all_latencies, 95):.1f} ms  p99 {pct(all_latencies, 99):.1f} ms  "
        f"errors {errors}  decisions {decided}/{expected}  "
        f"(gunicorn {conf['worker_class']} {args.workers} workers x {args.threads} threads; "
        "target p99 < 300 ms)"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (shared with PostgreSQL and this)")
    if errors or decided != expected:
        sys.exit(1)


if __name__ == "__main__":
    main()
