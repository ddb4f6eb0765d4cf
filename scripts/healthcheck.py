#!/usr/bin/env python
"""Container healthchecks of the docker compose stack (docker-compose.yml, docs/deploy.md).

    python scripts/healthcheck.py web [--url http://127.0.0.1:8000/healthz]
    python scripts/healthcheck.py worker [--node celery@<hostname>]
    python scripts/healthcheck.py beat [--max-age 600]

Exit 0 when healthy, 1 (with one line on stderr saying why) when not.

- web: GET /healthz (database and broker answer) with a Host header Django accepts: the
  first entry of ALLOWED_HOSTS (a request for 127.0.0.1 would get 400 from Django unless
  127.0.0.1 is an allowed host).
- worker: this container's worker answers a Celery ping (not just any worker of the stack).
- beat: beat sent a scheduled task within ``--max-age`` seconds (django-celery-beat records
  each entry's last run; it writes them every few minutes, so keep the age well above 180 s).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def host_header(allowed_hosts: list[str]) -> str:
    """A Host value that the first ALLOWED_HOSTS entry accepts ('.example.com' matches
    'healthz.example.com'; '*' matches anything)."""
    for entry in allowed_hosts:
        entry = entry.strip()
        if not entry:
            continue
        if entry == "*":
            return "localhost"
        if entry.startswith("."):
            return "healthz" + entry
        return entry
    return "localhost"


def web_ok(url: str, allowed_hosts: list[str], timeout: float = 5.0) -> tuple[bool, str]:
    if not url.startswith(("http://", "https://")):
        return False, f"not an http(s) URL: {url}"
    headers = {"Host": host_header(allowed_hosts)}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s) only)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}: {exc.read(300).decode(errors='replace')}"
    except OSError as exc:
        return False, str(exc)


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sgportal.settings")
    import django

    django.setup()


def worker_ok(node: str, timeout: float = 5.0) -> tuple[bool, str]:
    _django()
    from sgportal.celery import app

    replies = app.control.ping(destination=[node], timeout=timeout)
    if any(node in reply for reply in replies):
        return True, f"{node} answered"
    return False, f"{node} did not answer a ping within {timeout:g} s"


def beat_ok(max_age_s: int) -> tuple[bool, str]:
    _django()
    from datetime import timedelta

    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    since = timezone.now() - timedelta(seconds=max_age_s)
    if PeriodicTask.objects.filter(enabled=True, last_run_at__gte=since).exists():
        return True, "beat sent a task recently"
    return False, f"beat sent no scheduled task in the last {max_age_s} s"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="service", required=True)
    web = sub.add_parser("web")
    web.add_argument("--url", default="http://127.0.0.1:8000/healthz")
    worker = sub.add_parser("worker")
    worker.add_argument("--node", default=f"celery@{socket.gethostname()}")
    beat = sub.add_parser("beat")
    beat.add_argument("--max-age", type=int, default=600)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.service == "web":
        from sgportal.env import env_list

        ok, why = web_ok(args.url, env_list("ALLOWED_HOSTS", ["localhost"]))
    elif args.service == "worker":
        ok, why = worker_ok(args.node)
    else:
        ok, why = beat_ok(args.max_age)
    if not ok:
        print(f"unhealthy: {why}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
