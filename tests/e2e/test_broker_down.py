"""A Slack click while the broker is down: answered in time, recorded, and the work the
broker could not take is found by the sweeps afterwards.

Before sgportal.publish, the same click answered 500 with Redis refusing connections and
hung for more than 30 s with Redis accepting them silently, its decision committed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.utils import timezone

from approvals import sweeps
from approvals.models import Decision, SlackMessage
from ingestion.models import ChangeStatus
from remediation import sweeps as remediation_sweeps
from remediation.models import AttemptKind
from tests.approvals.conftest import SIGNING_SECRET, click_payload, form_body, link, sign
from tests.approvals.factories import ChangeFactory
from tests.e2e.worker import ROOT, database_url, free_port, wait_for, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(120)]

SLACK_PATIENCE_S = 3  # Slack shows the user an error when the answer takes longer


@contextlib.contextmanager
def broken_broker(state: str) -> Iterator[str]:
    """A Redis URL that refuses connections, or accepts them and never answers."""
    if state == "refusing":
        yield f"redis://127.0.0.1:{free_port()}/0"
        return
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes handshakes; nobody ever reads or answers
        yield f"redis://127.0.0.1:{silent.getsockname()[1]}/0"


@contextlib.contextmanager
def web_server(broker: str, log) -> Iterator[int]:
    port = free_port()
    env = worker_env(
        database=database_url(connection.settings_dict),
        broker=broker,
        endpoint="http://127.0.0.1:9",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        ALLOWED_HOSTS="127.0.0.1",
    )
    command = [
        sys.executable, "-m", "gunicorn", "sgportal.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
    ]  # fmt: skip
    with log.open("ab") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=handle)

    def answers() -> bool:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/slack/interactions/")  # 405 without touching the broker
            return probe.getresponse().status == 405
        except OSError:
            return False

    try:
        wait_for(answers, 30, f"gunicorn (log: {log})", interval=0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


def click(port: int, token: str) -> tuple[int, dict]:
    body = form_body(click_payload(token, action="deny"))
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(body, ts),
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=SLACK_PATIENCE_S)
    conn.request("POST", "/slack/interactions/", body=body.encode(), headers=headers)
    response = conn.getresponse()  # raises TimeoutError past Slack's patience
    return response.status, json.loads(response.read() or b"{}")


@pytest.mark.parametrize("state", ["refusing", "silent"])
def test_a_click_is_answered_and_recorded_while_the_broker_is_down(
    transactional_db, state, tenant, account, approver, tmp_path, monkeypatch
):
    workspace = tenant.slack_workspace
    workspace.bot_token = "xoxb-acme-bot-token"
    workspace.status = "ok"
    workspace.save()
    tenant.deny_reason_required = False  # Deny decides at the click (no reason modal)
    tenant.save(update_fields=["deny_reason_required"])
    link(approver, tenant, "U0BOB0001")
    change = ChangeFactory(account=account)
    message = SlackMessage.objects.create(
        change=change, channel="CACME0001", ts="1789372800.000100", status="posted",
        posted_at=timezone.now(),
    )  # fmt: skip

    with broken_broker(state) as broker, web_server(broker, tmp_path / "web.log") as port:
        status, body = click(port, message.action_token)

    assert (status, body.get("outcome")) == (200, "decided"), (tmp_path / "web.log").read_text()
    decision = Decision.objects.get(change=change)
    assert (decision.verdict, decision.user, decision.via) == ("deny", approver, "slack")
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED

    # Nothing is lost: the revert and the Slack update the broker could not take are what
    # the beat sweeps pick up (their own tests show they then run).
    assert (AttemptKind.REVERT, change.pk, decision.pk) in remediation_sweeps.stale_work(0)
    queued = []
    monkeypatch.setattr(sweeps.publish, "enqueue", lambda task, args, **kw: queued.append(args))
    time.sleep(0.01)  # the sweep looks at changes strictly older than its cutoff
    assert sweeps.resume_notifications(stale_after_s=0)["stale_updates"] == 1
    assert queued == [[change.pk]]
