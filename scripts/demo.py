"""`make demo`: the whole system on embedded defaults, in one terminal.

Starts, on free local ports: Redis (the broker), a moto server (the local AWS emulator),
the Slack stand-in (its page shows the posted messages with working buttons), then
migrates a SQLite database, seeds the demo tenant, and runs the web server, a Celery
worker, beat, and the demo change trickle. Ctrl-C stops everything.

    python scripts/demo.py            run until Ctrl-C
    python scripts/demo.py --smoke    start everything, log in, wait for a change, deny it,
                                      check it was reverted, stop (exit 0 when all worked)

DEMO_PORT sets the web port (default 8000); a busy port is reported at once with the fix.
DEMO_DATA overrides where the database and logs go (default: demo-data/). Each start is a
clean start: the AWS emulator keeps its state in memory only, so the database of an earlier
run would describe groups that no longer exist; it is removed, and the console says so.
Ctrl-C, SIGTERM and SIGHUP (closing the terminal) stop every child process (each runs in
its own process group, killed as a group).
"""

from __future__ import annotations

import argparse
import contextlib
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
DATA = Path(os.environ.get("DEMO_DATA") or ROOT / "demo-data")
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP end the demo like Ctrl-C does: through ``finally``, which stops
    every child's process group."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def start_clean() -> None:
    """Remove the previous run's database and logs: the emulator they described is gone."""
    previous = DATA / "db.sqlite3"
    if previous.exists():
        print(
            f"Starting clean: removing the previous demo database ({previous}); the AWS "
            "emulator starts empty each time, so its changes would point at groups that no "
            "longer exist."
        )
    for path in [previous, *DATA.glob("*.log"), DATA / "celerybeat-schedule"]:
        path.unlink(missing_ok=True)


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


def smoke(url: str, *, slack_url: str, token: str, env: dict[str, str]) -> bool:
    """What a person does with the demo, each step printed: a second start on the same
    port fails fast; log in, watch a change arrive (through EventBridge, and the trail when
    its reader is there), deny it on the web and see it reverted; deny another on the
    Slack stand-in's page in Chromium and see its rule gone from the emulator. True when
    all of them worked."""
    checks = [
        _smoke_busy_port(url),
        _smoke_web(url),
        _smoke_sources(),
        _smoke_api(url, token),
        _smoke_sso(url),
        _smoke_slack_page(url, slack_url, token, env),
    ]
    return all(checks)


def _smoke_busy_port(url: str) -> bool:
    port = url.rsplit(":", 1)[1]
    started = time.monotonic()
    second = subprocess.run(
        [PY, str(Path(__file__).resolve())],
        env={**os.environ, "DEMO_PORT": port},
        capture_output=True,
        text=True,
        timeout=30,
    )
    took = time.monotonic() - started
    ok = second.returncode == 2 and f"Port {port} is already in use" in second.stderr
    print(f"smoke: a second start on port {port} failed fast: {ok} ({took:.1f} s)")
    return ok and took < 2


def _smoke_web(url: str) -> bool:
    """Log in, wait for a change in the queue, deny it on the web, see it reverted."""
    import http.cookiejar
    import re
    from urllib.parse import urlencode

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def get(path: str) -> str:
        with opener.open(f"{url}{path}", timeout=10) as response:
            return response.read().decode()

    def post(path: str, data: dict, referer: str) -> str:
        token = next(c.value for c in jar if c.name == "csrftoken")
        request = urllib.request.Request(  # noqa: S310 (the demo's own local URL)
            f"{url}{path}",
            data=urlencode({**data, "csrfmiddlewaretoken": token}).encode(),
            headers={"Referer": f"{url}{referer}"},
        )
        with opener.open(request, timeout=10) as response:
            return response.read().decode()

    get("/accounts/login/")
    page = post(
        "/accounts/login/", {"login": "reviewer", "password": "sgportal-demo"}, "/accounts/login/"
    )
    print(f"smoke: logged in as reviewer: {'Log out' in page}")
    dashboard = get("/dashboard/")
    print(f"smoke: dashboard has history: {'decisions by people' in dashboard}")
    deadline = time.monotonic() + 90
    change_id, status, tried = None, "", set()
    while time.monotonic() < deadline and status not in ("Reverted", "Revert failed"):
        pending = re.findall(r'href="/changes/(\d+)/"', get("/?status=pending"))
        change_id = next((c for c in pending if c not in tried), None)
        if not change_id:
            time.sleep(1)
            continue
        tried.add(change_id)
        print(f"smoke: a change arrived in the queue: {change_id}")
        post(
            f"/changes/{change_id}/decide/",
            {"verdict": "deny", "reason": "demo smoke"},
            f"/changes/{change_id}/",
        )
        status = ""
        while time.monotonic() < deadline and status not in ("Reverted", "Revert failed"):
            found = re.search(r'class="badge">([^<]+)<', get(f"/changes/{change_id}/"))
            status = found.group(1) if found else ""
            if status in ("Auto-approved", "Auto-reverted", "Approved"):
                # The policy decided it first (the queue showed it before its policy step):
                # the deny was refused, as it should be; try the next pending change.
                print(f"smoke: change {change_id} was decided first by: {status}")
                break
            time.sleep(0.5)
    print(f"smoke: denied change {change_id}, now: {status or 'unknown'}")
    return status == "Reverted" and "decisions by people" in dashboard


def _smoke_sources() -> bool:
    """The trickle's changes came through the real paths: EventBridge, and the trail when
    this tree has its reader (ingestion/trail.py). Read from the demo's own database."""
    import sqlite3

    def count(sql: str) -> int:
        with sqlite3.connect(DATA / "db.sqlite3", timeout=10) as db:
            return db.execute(sql).fetchone()[0]

    live = "event_id NOT LIKE 'demo-history-%'"
    table = "ingestion_securitygroupchange"
    eventbridge = count(f"SELECT count(*) FROM {table} WHERE {live} AND sources & 2")  # noqa: S608
    others = count(f"SELECT count(*) FROM {table} WHERE {live} AND sources & 9")  # noqa: S608
    print(f"smoke: changes through EventBridge: {eventbridge}, stored another way: {others}")
    ok = eventbridge > 0 and others == 0
    if not has_module("ingestion.trail"):
        print("smoke: trail path not checked: this tree has no trail reader (ingestion/trail.py)")
        return ok
    deadline, trail = time.monotonic() + 60, 0
    while time.monotonic() < deadline and not trail:
        trail = count(f"SELECT count(*) FROM {table} WHERE {live} AND sources & 4")  # noqa: S608
        time.sleep(1)
    print(f"smoke: changes through the trail (S3 log file, SQS notice): {trail}")
    return ok and trail > 0


def _smoke_sso(url: str) -> bool:
    """Sign in with the demo's OpenID Connect provider as dana (group sg-approvers): a
    browser's redirects, followed with a cookie jar; she lands in the queue as approver."""
    import http.cookiejar
    import re
    from urllib.parse import urlencode

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def post(target: str, data: dict, referer: str):
        request = urllib.request.Request(  # noqa: S310 (the demo's local URLs)
            target, data=urlencode(data).encode(), headers={"Referer": referer}
        )
        return opener.open(request, timeout=20)

    with opener.open(f"{url}/accounts/login/", timeout=10) as response:
        login = response.read().decode()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    offered = "Sign in with Demo SSO" in login
    with post(
        f"{url}/accounts/oidc/sso/login/", {"csrfmiddlewaretoken": csrf}, f"{url}/accounts/login/"
    ) as response:  # -> the provider's sign-in page
        at_provider, chooser = response.url, response.read().decode()
    query = re.search(r'name="query" value="([^"]*)"', chooser)
    if not (offered and query):
        print(f"smoke: SSO sign-in offered: {offered}; provider page at {at_provider}")
        return False
    import html

    with post(
        at_provider.split("?")[0], {"query": html.unescape(query.group(1)), "user": "dana"}, url
    ) as response:  # -> sgportal's callback -> the queue
        landed, page = response.url, response.read().decode()
    import sqlite3

    with sqlite3.connect(DATA / "db.sqlite3", timeout=10) as db:
        roles = db.execute(
            "SELECT m.role, m.source FROM sgportal_membership m JOIN auth_user u"
            " ON u.id = m.user_id WHERE u.username = 'dana'"
        ).fetchall()
    ok = landed.rstrip("/") == url and "Log out" in page and "dana" in page
    print(f"smoke: signed in with Demo SSO as dana: {ok} (landed on {landed}); roles: {roles}")
    return ok and roles == [("approver", "idp_group")]


def _api(url: str, token: str, path: str) -> dict:
    import json

    request = urllib.request.Request(  # noqa: S310 (the demo's own local URL)
        f"{url}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)


def _smoke_api(url: str, token: str) -> bool:
    changes = _api(url, token, "/api/v1/changes/")
    with urllib.request.urlopen(f"{url}/api/v1/docs/", timeout=10) as response:  # noqa: S310
        docs = response.status
    ok = bool(changes.get("results")) and docs == 200
    print(f"smoke: the printed token reads the API: {ok} (docs page: {docs})")
    return ok


def _smoke_slack_page(url: str, slack_url: str, token: str, env: dict[str, str]) -> bool:
    """Deny a pending change on the Slack stand-in's page in Chromium (the reason modal: a
    blank reason is refused in the modal, then one is typed and submitted), see the message
    say Reverted with the reason, and the rule gone from the emulator."""
    import re

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("smoke: the stand-in page was not clicked: Playwright is not installed")
        return False
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{slack_url}/")
            deadline = time.monotonic() + 90
            change, ts = None, ""
            while time.monotonic() < deadline and change is None:
                for article in page.locator("article.message:has(button[data-action=deny])").all():
                    href = article.locator("a", has_text="Open in sgportal").get_attribute("href")
                    found = re.search(r"/changes/(\d+)/", href or "")
                    candidate = found and _api(url, token, f"/api/v1/changes/{found.group(1)}/")
                    if candidate and candidate["status"] == "pending":
                        change, ts = candidate, article.get_attribute("data-ts")
                        break
                else:
                    time.sleep(1)
                    try:
                        page.reload()
                    except PlaywrightError as exc:  # the tab went away (seen once under load)
                        print(f"smoke: the Slack page's tab failed ({exc}); opening it again")
                        page = browser.new_page(viewport={"width": 1280, "height": 900})
                        page.goto(f"{slack_url}/")
            print(
                f"smoke: a pending change on the Slack stand-in's page: {change and change['id']}"
            )
            if change is None:
                return False
            message = page.locator(f"article[data-ts='{ts}']")
            message.locator("button[data-action=deny]").click()
            modal = page.locator("dialog.modal[open]")
            modal.wait_for(timeout=15_000)  # opened by sgportal's views.open
            reason = "demo smoke: world-open rule"
            modal.locator("textarea").fill("   ")  # blank: sgportal keeps the modal open
            modal.locator("button[data-submit]").click()
            refused = page.locator("dialog.modal[open] .field-error")
            refused.wait_for(timeout=15_000)
            print(f"smoke: a blank reason was refused in the modal: {refused.inner_text()!r}")
            page.locator("dialog.modal[open] textarea").fill(reason)
            started = time.monotonic()
            page.locator("dialog.modal[open] button[data-submit]").click()
            page.wait_for_function(
                "([ts, reason]) => { const m = document.querySelector(`article[data-ts='${ts}']`);"
                " return m && m.innerText.includes('Reverted') && m.innerText.includes(reason); }",
                arg=[ts, reason],
                timeout=60_000,
            )
            took = time.monotonic() - started
            print(f"smoke: the modal closed: {page.locator('dialog.modal').count() == 0}")
            page.locator(f"article[data-ts='{ts}']").scroll_into_view_if_needed()
            if os.environ.get("DEMO_SCREENSHOT"):
                page.screenshot(path=os.environ["DEMO_SCREENSHOT"])
        finally:
            browser.close()
    gone = _rules_gone(change, env)
    print(
        f"smoke: denied change {change['id']} on the Slack stand-in: Reverted after {took:.1f} s; "
        f"its rule is gone from the emulator: {gone}"
    )
    return gone


def _rules_gone(change: dict, env: dict[str, str]) -> bool:
    import boto3
    from botocore.exceptions import ClientError

    aws = {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": change["region"],
    }
    # As the member account's administrator, not sgportal's spoke role (which needs the
    # tenant's ExternalId: devtools/moto_server.py).
    role = f"arn:aws:iam::{change['aws_account_id']}:role/OrganizationAccountAccessRole"
    credentials = boto3.client("sts", **aws).assume_role(
        RoleArn=role, RoleSessionName="demo-smoke-check"
    )["Credentials"]
    ec2 = boto3.client(
        "ec2",
        endpoint_url=aws["endpoint_url"],
        region_name=aws["region_name"],
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    ids = [rule["rule_id"] for rule in change["rules"] if rule.get("rule_id")]
    try:
        left = ec2.describe_security_group_rules(SecurityGroupRuleIds=ids)["SecurityGroupRules"]
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "InvalidSecurityGroupRuleId.NotFound"
    return bool(ids) and not left


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
        """The programs first, then what they use (Redis, the emulator): each leader gets
        SIGTERM and up to 10 s (Celery finishes its running tasks and returns unacked ones
        to Redis while Redis still runs); then whatever is left of its process group
        (pool processes, a leader that would not stop) is killed."""
        services = {"redis", "moto"}
        apps = [proc for name, proc in self.procs if name not in services]
        infra = [proc for name, proc in self.procs if name in services]
        for phase in (apps, infra):
            for proc in reversed(phase):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in phase:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the group's leftovers, if any
                proc.wait()

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
    web_port = args.port if not args.smoke else free_port()
    if port_in_use(web_port):
        print(
            f"Port {web_port} is already in use (another demo or server?). Stop it, or choose "
            f"another port: DEMO_PORT={web_port + 123} make demo",
            file=sys.stderr,
        )
        return 2
    stop_on_signals()
    DATA.mkdir(exist_ok=True)
    start_clean()
    redis_port, moto_port, slack_port, sso_port = (free_port() for _ in range(4))
    slack_url = f"http://127.0.0.1:{slack_port}"
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
            "SLACK_RESPONSE_URL_HOSTS": f"http://127.0.0.1:{slack_port}",
            "SLACK_SIGNING_SECRET": env.get("SLACK_SIGNING_SECRET", "demo-signing-secret"),
            "SITE_URL": f"http://127.0.0.1:{web_port}",
            "DEBUG": "1",
            "SGPORTAL_DEMO": "1",  # lets seed_demo set the public demo passwords
            # SSO beside the password login: the demo's own OpenID Connect provider.
            "SSO_OIDC_ISSUER": f"http://127.0.0.1:{sso_port}",
            "SSO_OIDC_CLIENT_ID": "sgportal-demo",
            "SSO_OIDC_CLIENT_SECRET": "demo-oidc-client-secret",
            "SSO_OIDC_NAME": "Demo SSO",
            "SSO_OIDC_SCOPES": "openid,profile,email,groups",
            "SGPORTAL_POLL_INTERVAL_S": "30",
            # The demo policy's 2-minute deadline runs out within seconds of its time.
            "SGPORTAL_POLICY_SWEEP_INTERVAL_S": "15",
            # The trail reader (ingestion/trail.py): short reads, often, so a trail file is
            # read within seconds and Ctrl-C never waits for a long poll.
            "SGPORTAL_TRAIL_INTERVAL_S": "10",
            "SGPORTAL_TRAIL_RUN_S": "8",
            "SGPORTAL_TRAIL_WAIT_S": "5",
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
        moto = [PY, "-m", "devtools.moto_server", "-H", "127.0.0.1", "-p", str(moto_port)]
        sup.start("moto", moto, env)
        if has_module("devtools.slack_standin"):
            standin = [
                *[PY, "-m", "devtools.slack_standin", "--port", str(slack_port)],
                *["--interactions-url", f"http://127.0.0.1:{web_port}/slack/interactions/"],
            ]
            sup.start("slack", standin, env)
        callback = "/accounts/oidc/sso/login/callback/"
        sup.start(
            "sso",
            [
                *[PY, "-m", "devtools.oidc_provider", "--port", str(sso_port)],
                *["--redirect-uri", f"http://127.0.0.1:{web_port}{callback}"],
                *["--redirect-uri", f"http://localhost:{web_port}{callback}"],
            ],
            env,
        )
        subprocess.run(
            [PY, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seeded = subprocess.run(
            [PY, "manage.py", "seed_demo"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        logins = [line.strip() for line in seeded.splitlines() if "login:" in line]
        shown = ("sources:", "policy:", "history:")
        about = [line.strip() for line in seeded.splitlines() if line.strip().startswith(shown)]
        token = subprocess.run(
            [
                *[PY, "manage.py", "createtoken", "--tenant", "demo"],
                *["--name", "make demo", "--scope", "read", "--expires", "1"],
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
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
            every = "3" if args.smoke else "20"
            sup.start("trickle", [PY, "manage.py", "demo_trickle", "--interval", every], env)
        url = f"http://127.0.0.1:{web_port}"
        if not wait_for(f"{url}/healthz"):
            print(f"The web server did not come up; see {DATA}/web.log", file=sys.stderr)
            return 1
        print(f"\nsgportal demo is running: {url}/  (admin: {url}/admin/)", flush=True)
        for line in logins:
            print(f"  {line}")
        print(
            "  or 'Sign in with Demo SSO' (a local OpenID Connect provider, "
            f"{env['SSO_OIDC_ISSUER']}): dana (group sg-approvers: approver) or eve "
            "(sg-viewers: viewer)"
        )
        print(f"  Slack stand-in (the posted messages, with working buttons): {slack_url}/")
        print(f"  dashboard: {url}/dashboard/    API docs: {url}/api/v1/docs/")
        print(f"  API token (read, 1 day): {token}")
        print(f'    curl -H "Authorization: Bearer {token}" {url}/api/v1/changes/')
        for line in about:
            print(f"  {line}")
        print(f"  logs: {DATA}/*.log    Ctrl-C to stop; `make demo-reset` removes demo-data/\n")
        if args.smoke:
            ok = smoke(url, slack_url=slack_url, token=token, env=env)
            dead = sup.dead()
            print(f"smoke: {'ok' if ok and not dead else 'FAILED'} dead={dead}")
            return 0 if ok and not dead else 1
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
