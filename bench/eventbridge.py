"""Benchmark: POST /ingest/eventbridge/<tenant>/ under 50 concurrent senders, and event
received -> Slack message posted through a real worker (issue 12, "Speed").

    scripts/with-services .venv/bin/python bench/eventbridge.py [--senders 50] [--rounds 3]
        [--single 20]

Against the PostgreSQL and Redis that ``scripts/with-services`` starts: migrates, seeds a
tenant with an EventBridge secret and a Slack workspace pointing at the local Slack
stand-in, starts gunicorn with the project's gunicorn.conf.py and one Celery worker
(``-Q celery``), then:

1. ``GET /healthz`` one at a time: this machine's baseline;
2. per round, N senders at once (a barrier releases them together), each POSTing a batch of
   10 EventBridge events built from AWS's own envelope in ``../shared/.../realworld/17…``
   (new event ids every time): p50/p95/p99 and the ratio of p95 to healthz's p95;
3. end to end, ``--single`` events one at a time (1.5 s apart: Slack takes one post per
   second per channel, and sgportal keeps to that): from each request's start to the
   ``SlackMessage.posted_at`` of its change (policy step and Slack post in the worker):
   p50/p95, target p95 < 2 s, once the worker has drained the bursts (how long that took
   is printed too). The burst's changes (ports 10000+) are auto-approved by the
   bench tenant's first policy rule, so they cost the worker a policy step each but no
   Slack post; the single events are reviewed, one post each (no digest).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import http.client
import json
import os
import runpy
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.slack_clicks import bench_env, free_port, pct, wait_ready  # noqa: E402

ENVELOPE = (
    ROOT.parent
    / "shared/fixtures/cloudtrail/realworld/17_lab_eventbridge_authorize_ingress_root_console.json"
)
SECRET = "sgpeb_bench-eventbridge-secret-0123456789abcdef"  # noqa: S105 (bench only)
BATCH = 10


def seed(slack_api: str) -> None:
    import django

    django.setup()
    from approvals.models import SlackStatus, SlackWorkspace
    from approvals.policy.models import PolicyRule
    from ingestion.models import EventBridgeSource
    from ingestion.sources import set_eventbridge_secret
    from sgportal.models import AwsAccount, Tenant

    tenant, _ = Tenant.objects.get_or_create(slug="bench-eb", defaults={"name": "Bench (EB)"})
    set_eventbridge_secret(tenant, SECRET)
    EventBridgeSource.objects.filter(tenant=tenant).update(enabled=True)
    SlackWorkspace.objects.update_or_create(
        tenant=tenant,
        defaults={
            "team_id": "TBENCHEB1",
            "channel_id": "CBENCHEB",
            "bot_token": "xoxb-bench",
            "status": SlackStatus.OK,
        },
    )
    # The bursts (ports 10000+) are auto-approved: Slack's 1 post/s per channel would
    # otherwise queue thousands of posts. The end-to-end events (ports < 10000) ask in Slack,
    # each on its own.
    PolicyRule.objects.update_or_create(
        tenant=tenant,
        name="bench: bursts approved",
        defaults={"position": 10, "match": {"ports": "10000-65535"}, "action": "auto_approve"},
    )
    PolicyRule.objects.update_or_create(
        tenant=tenant,
        name="bench: review, one post each",
        defaults={"position": 20, "match": {}, "action": "review", "notify_limit": 100_000},
    )
    envelope = json.loads(ENVELOPE.read_text())
    AwsAccount.objects.get_or_create(
        tenant=tenant, account_id=envelope["account"], defaults={"name": "bench-eb"}
    )


def batch(template: dict, port_base: int) -> tuple[bytes, list[str]]:
    """BATCH envelopes with fresh event ids (and ports), and the ids."""
    events, ids = [], []
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for i in range(BATCH):
        event = copy.deepcopy(template)
        event["id"] = str(uuid.uuid4())
        detail = event["detail"]
        detail["eventID"] = str(uuid.uuid4())
        detail["eventTime"] = event["time"] = now
        item = detail["requestParameters"]["ipPermissions"]["items"][0]
        item["fromPort"] = item["toPort"] = port_base + i
        events.append(event)
        ids.append(detail["eventID"])
    return json.dumps(events).encode(), ids


def post(port: int, path: str, body: bytes | None) -> tuple[int, float, float]:
    """(status, seconds taken, wall-clock start)."""
    wall, started = time.time(), time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if body is None:
            conn.request("GET", path)
        else:
            conn.request(
                "POST",
                path,
                body=body,
                headers={"Content-Type": "application/json", "X-SGPortal-Secret": SECRET},
            )
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started, wall
    finally:
        conn.close()


def fire(port: int, bodies: list[bytes]) -> list[tuple[int, float, float]]:
    barrier = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = post(port, "/ingest/eventbridge/bench-eb/", bodies[i])
        except OSError:
            results[i] = (0, float("nan"), time.time())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def posted_latencies(sent: dict[str, float], timeout: float) -> tuple[list[float], int]:
    """Seconds from each event's request start to its Slack message's posted_at."""
    from approvals.models import SlackMessage

    deadline = time.time() + timeout
    rows: list = []
    while time.time() < deadline:
        rows = list(
            SlackMessage.objects.filter(
                change__event_id__in=list(sent), posted_at__isnull=False
            ).values_list("change__event_id", "posted_at")
        )
        if len(rows) == len(sent):
            break
        time.sleep(0.2)
    return [posted.timestamp() - sent[event_id] for event_id, posted in rows], len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single", type=int, default=20, help="end-to-end events")
    args = parser.parse_args()

    from devtools.slack_standin import SlackStandin

    standin = SlackStandin().start()
    env = bench_env()
    env.update(SLACK_API_URL=standin.base_url, SLACK_RESPONSE_URL_HOSTS="127.0.0.1")
    os.environ.update(env)
    os.chdir(ROOT)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], check=True, env=env, cwd=ROOT
    )
    seed(standin.base_url)
    template = json.loads(ENVELOPE.read_text())

    port = free_port()
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    gunicorn = [
        sys.executable, "-m", "gunicorn", "sgportal.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        "-c", str(ROOT / "gunicorn.conf.py"),
    ]  # fmt: skip
    web = subprocess.Popen(gunicorn, env=env, cwd=ROOT)
    log = Path(tempfile.mkdtemp()) / "worker.log"
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "sgportal",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "-Q",
            "celery",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],  # fmt: skip
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(port, web)
        health = [post(port, "/healthz", None)[1] * 1000 for _ in range(100)]
        health_p95 = pct(health, 95)
        print(f"GET /healthz (baseline)  p50 {pct(health, 50):6.1f} ms  p95 {health_p95:6.1f} ms")
        # Warm-up round (connections, imports, the worker's first tasks): not counted.
        burst_port = iter(range(10_000, 65_000, BATCH))
        fire(port, [batch(template, next(burst_port))[0] for _ in range(args.senders)])
        all_ms: list[float] = []
        errors = 0
        sent: dict[str, float] = {}
        for number in range(1, args.rounds + 1):
            made = [batch(template, next(burst_port)) for _ in range(args.senders)]
            results = fire(port, [body for body, _ in made])
            ms = [r[1] * 1000 for r in results if r[0] == 200]
            errors += sum(1 for r in results if r[0] != 200)
            all_ms += ms
            print(
                f"round {number}: {args.senders} senders x {BATCH} events  "
                f"p50 {pct(ms, 50):6.1f} ms  p95 {pct(ms, 95):6.1f} ms  "
                f"p99 {pct(ms, 99):6.1f} ms  errors {len(results) - len(ms)}"
            )
            time.sleep(2)
        p95 = pct(all_ms, 95)
        print(
            f"all: {len(all_ms)} batches  p50 {pct(all_ms, 50):.1f} ms  p95 {p95:.1f} ms  "
            f"= {p95 / health_p95:.1f} x healthz p95  errors {errors}  "
            f"(gunicorn {conf['workers']} workers x {conf['threads']} threads)"
        )
        # The worker's backlog: every burst change gets its policy step (auto-approved).
        from ingestion.models import SecurityGroupChange

        burst = SecurityGroupChange.objects.filter(tenant__slug="bench-eb")
        started = time.perf_counter()
        while burst.filter(status="pending").exists() and time.perf_counter() - started < 300:
            time.sleep(0.2)
        decided_s = time.perf_counter() - started
        # ...and whatever their decisions set off (receivers' tasks): the queue runs empty.
        import redis

        broker = redis.Redis.from_url(env["CELERY_BROKER_URL"])
        while broker.llen("celery") and time.perf_counter() - started < 300:
            time.sleep(0.2)
        time.sleep(1)
        print(
            f"worker backlog: {burst.count()} burst changes decided by policy "
            f"{decided_s:.1f} s after the last request "
            f"({burst.filter(status='pending').count()} still pending); queue empty after "
            f"{time.perf_counter() - started - 1:.1f} s"
        )
        # End to end, the worker idle: one event at a time, 1.5 s apart (Slack allows one
        # post per second per channel).
        for number in range(args.single):
            body, ids = batch(template, 1024 + number * BATCH)
            one = json.dumps(json.loads(body)[:1]).encode()
            status, _, started = post(port, "/ingest/eventbridge/bench-eb/", one)
            if status == 200:
                sent[ids[0]] = started
            time.sleep(1.5)
        latencies, posted = posted_latencies(sent, timeout=120)
        seconds = sorted(latencies)
        print("latencies (s):", " ".join(f"{x:.2f}" for x in latencies))
        if not seconds:
            from django.db.models import Count

            from approvals.models import SlackMessage
            from ingestion.models import SecurityGroupChange

            changes = SecurityGroupChange.objects.filter(tenant__slug="bench-eb")
            print("changes by status:", dict(changes.values_list("status").annotate(Count("id"))))
            print(
                "Slack messages:",
                list(
                    SlackMessage.objects.filter(change__in=changes)
                    .values_list("status", "last_error")
                    .annotate(Count("id"))[:5]
                ),
            )
            sys.exit(f"no Slack message was posted; see the worker's log {log}")
        print(
            f"event received -> Slack message posted (1 worker, concurrency 2): "
            f"{posted}/{len(sent)} posted  p50 {pct(seconds, 50):.2f} s  "
            f"p95 {pct(seconds, 95):.2f} s  max {seconds[-1]:.2f} s (target p95 < 2 s; "
            f"one event at a time, {len(standin.calls)} Slack API calls)"
        )
    finally:
        web.terminate()
        os.killpg(worker.pid, 15)
        web.wait(timeout=30)
        worker.wait(timeout=30)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (shared with PostgreSQL and this)")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
