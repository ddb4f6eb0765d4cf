"""`make demo`: the whole system on embedded defaults, in one terminal.

Starts, on free local ports: Redis (the broker), a moto server (the local AWS emulator),
the Slack stand-in (when the approvals app ships it), then migrates a SQLite database,
seeds the demo tenant, and runs the web server, a Celery worker, beat, and the demo
change trickle (when the ingestion app ships it). Ctrl-C stops everything.

    python scripts/demo.py            run until Ctrl-C
    python scripts/demo.py --smoke    start everything, check /healthz and the login page, stop
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "demo-data"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
                if response.status < 500:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def has_module(name: str) -> bool:
    return (ROOT / (name.replace(".", "/") + ".py")).exists()


class Supervisor:
    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(DATA / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child's life)
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs if proc.poll() is not None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="start, check, stop")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
    args = parser.parse_args()

    redis_server = shutil.which("redis-server")
    if not redis_server:
        print("make demo needs redis-server (apt-get install redis-server).", file=sys.stderr)
        return 1
    DATA.mkdir(exist_ok=True)
    web_port = args.port if not args.smoke else free_port()
    redis_port, moto_port, slack_port = free_port(), free_port(), free_port()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{DATA / 'db.sqlite3'}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",  # moto accepts any
            "AWS_DEFAULT_REGION": "us-east-1",
            "SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api/",
            "SLACK_SIGNING_SECRET": env.get("SLACK_SIGNING_SECRET", "demo-signing-secret"),
            "SITE_URL": f"http://127.0.0.1:{web_port}",
            "DEBUG": "1",
            "SGPORTAL_POLL_INTERVAL_S": "30",
        }
    )
    sup = Supervisor()
    try:
        sup.start(
            "redis",
            [
                redis_server,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            env,
        )
        sup.start("moto", [PY, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], env)
        if has_module("approvals.slack_standin"):
            standin = [PY, "-m", "approvals.slack_standin", "--port", str(slack_port)]
            sup.start("slack", standin, env)
        for step in (["migrate", "--noinput"], ["seed_demo"]):
            subprocess.run(
                [PY, "manage.py", *step],
                cwd=ROOT,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL if step[0] == "migrate" else None,
            )
        sup.start(
            "worker",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "sgportal",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                "-Q",
                "celery,remediation,slack",
            ],
            env,
        )
        sup.start(
            "beat",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "sgportal",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(DATA / "celerybeat-schedule"),
            ],
            env,
        )
        sup.start("web", [PY, "manage.py", "runserver", f"127.0.0.1:{web_port}", "--noreload"], env)
        if has_module("ingestion/management/commands/demo_trickle"):
            sup.start("trickle", [PY, "manage.py", "demo_trickle"], env)
        url = f"http://127.0.0.1:{web_port}"
        if not wait_for(f"{url}/healthz"):
            print(f"The web server did not come up; see {DATA}/web.log", file=sys.stderr)
            return 1
        print(f"\nsgportal demo is running: {url}/  (admin: {url}/admin/)")
        print("  login: reviewer / sgportal-demo (approver), admin / sgportal-demo (tenant admin)")
        print(f"  logs: {DATA}/*.log    Ctrl-C to stop\n")
        if args.smoke:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:  # noqa: S310
                healthy = r.status == 200
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=5) as r:  # noqa: S310
                login_page = b"password" in r.read().lower()
            dead = sup.dead()
            print(f"smoke: healthz={healthy} login_page={login_page} dead={dead}")
            return 0 if healthy and login_page and not dead else 1
        while True:
            time.sleep(2)
            dead = sup.dead()
            if dead:
                print(
                    f"stopped unexpectedly: {', '.join(dead)} (see {DATA}/<name>.log)",
                    file=sys.stderr,
                )
                return 1
    except KeyboardInterrupt:
        return 0
    finally:
        sup.stop()


if __name__ == "__main__":
    sys.exit(main())
