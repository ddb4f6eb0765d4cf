"""The whole flow with real components: a security-group change made in the AWS emulator
(moto server) -> its CloudTrail record through the parser and store -> policy -> a real
Celery worker posts to the Slack stand-in -> a Slack-signed Deny click, its reason modal
(views.open) and the signed view_submission -> the worker reverts in the member account
-> the Slack message shows the outcome -> the audit chain holds every step."""

from __future__ import annotations

import json

import pytest
import redis
from django.conf import settings
from django.db import connection

from approvals.models import Decision, SlackMessage
from ingestion import simulate
from ingestion.models import ChangeStatus, SecurityGroupChange, Source
from ingestion.parser import parse_record
from ingestion.store import own_role_arns, store_changes
from sgportal.audit import verify_chain
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.conftest import SIGNING_SECRET, click, link, submit
from tests.e2e.worker import (
    database_url,
    kill_worker,
    start_worker,
    wait_for,
    worker_env,
)
from tests.remediation.helpers import REGION, group_rules, make_group, member_ec2

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(180)]

OPEN_SSH = [
    {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "debug, remove me"}],
    }
]


@pytest.fixture
def slack(settings):
    from devtools.slack_standin import SlackStandin

    with SlackStandin() as standin:
        settings.SLACK_API_URL = standin.base_url
        settings.SLACK_RESPONSE_URL_HOSTS = [standin.origin]
        settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
        yield standin


@pytest.fixture
def worker(transactional_db, endpoint, slack, tmp_path):
    # A clean broker: no leftover messages from earlier tests reach this worker.
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    log = tmp_path / "worker.log"
    env = worker_env(
        database=database_url(connection.settings_dict),
        broker=settings.CELERY_BROKER_URL,
        endpoint=endpoint,
        SLACK_API_URL=slack.base_url,
        SLACK_RESPONSE_URL_HOSTS=slack.origin,
        SITE_URL="https://sgportal.example.com",
    )
    process = start_worker(f"celery,{settings.REMEDIATION_QUEUE}", env, log, concurrency=2)
    yield log
    kill_worker(process)


def test_a_denied_change_is_reverted_and_reported_everywhere(
    worker, slack, client, tenant, account, approver, outsider, other_tenant
):
    workspace = tenant.slack_workspace
    workspace.bot_token = "xoxb-acme-bot-token"
    workspace.status = "ok"
    workspace.save()
    assert tenant.deny_reason_required  # the default: a deny needs a reason, Slack asks it
    link(approver, tenant, "U0BOB0001")
    link(outsider, other_tenant, "U0MALLORY")

    # 1. Someone opens SSH to the world in the member account; CloudTrail records it.
    ec2 = member_ec2(account, REGION)
    group = make_group(ec2, "payments-web")
    record = simulate.authorize(
        ec2, group_id=group, permissions=OPEN_SSH, account_id=account.account_id, region=REGION
    )
    (added,) = record["responseElements"]["securityGroupRuleSet"]["items"]
    rule_id = added["securityGroupRuleId"]
    assert rule_id in {r["rule_id"] for r in group_rules(ec2, group)}

    # 2. It is ingested through the shared parser and store.
    parsed = parse_record(json.loads(json.dumps(record)), own_role_arns=own_role_arns(tenant))
    result = store_changes(tenant, [parsed], source=Source.MANUAL)
    change = SecurityGroupChange.objects.get(pk=result.new_ids[0])
    assert change.status == ChangeStatus.PENDING
    assert change.rules[0]["rule_id"] == rule_id

    # 3. The worker posts the review request to the tenant's Slack channel.
    posted = wait_for(
        lambda: slack.calls_to("chat.postMessage"), 30, f"the Slack post (worker log: {worker})"
    )
    text = json.dumps(posted[0].body)
    assert "tcp/22 from 0.0.0.0/0" in text and group in text
    token = SlackMessage.objects.get(change=change).action_token

    # 4. An outsider from another tenant clicks Deny on it: refused, nothing changes.
    refused = click(
        client, token, action="deny", team=other_tenant.slack_workspace.team_id, user="U0MALLORY"
    )
    assert refused.status_code == 200 and refused.json().get("response_type") == "ephemeral"
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING

    # 5. The approver clicks Deny in Slack: sgportal opens the reason modal; they submit it.
    response = click(
        client, token, action="deny", team=tenant.slack_workspace.team_id, user="U0BOB0001"
    )
    assert response.status_code == 200 and response.json() == {"outcome": "modal"}
    [opened] = slack.calls_to("views.open")
    view = opened.body["view"]
    metadata = json.loads((json.loads(view) if isinstance(view, str) else view)["private_metadata"])
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING  # nothing decided until it is submitted
    submitted = submit(client, metadata, "SSH open to the world", user="U0BOB0001")
    assert submitted.json() == {"response_action": "clear"}

    # 6. The worker reverts it in the member account and reports back to Slack.
    def reverted():
        change.refresh_from_db()
        return change.status in (ChangeStatus.REVERTED, ChangeStatus.REVERT_FAILED)

    wait_for(reverted, 60, f"the revert (worker log: {worker})", interval=0.25)
    assert change.status == ChangeStatus.REVERTED, worker.read_text()[-3000:]
    assert rule_id not in {r["rule_id"] for r in group_rules(ec2, group)}

    def reported():
        return [c for c in slack.calls_to("chat.update") if "Reverted" in json.dumps(c.body)]

    wait_for(reported, 30, f"the Slack update with the outcome (worker log: {worker})")

    decision = Decision.objects.get(change=change)
    assert (decision.verdict, decision.via, decision.user) == ("deny", "slack", approver)
    assert decision.reason == "SSH open to the world"
    assert any("SSH open to the world" in json.dumps(c.body) for c in reported())
    actions = list(AuditEntry.objects.filter(tenant=tenant).values_list("action", flat=True))
    for expected in (
        AuditAction.DECIDE,
        AuditAction.REVERT_ATTEMPT,
        AuditAction.REVERT_RESULT,
    ):
        assert expected in actions
    assert AuditAction.DECISION_REFUSED not in actions  # the outsider's click is not ours...
    refusal = AuditEntry.objects.get(tenant=other_tenant)  # ...it is recorded in theirs
    assert refusal.action == AuditAction.DECISION_REFUSED
    assert refusal.actor_name == f"slack:{other_tenant.slack_workspace.team_id}/U0MALLORY"
    assert verify_chain(tenant).ok and verify_chain(other_tenant).ok
