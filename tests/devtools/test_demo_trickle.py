"""The demo trickle delivers through the real ingestion paths: each change is made in the AWS
emulator (a moto server, real HTTP), POSTed to the EventBridge endpoint with the demo
tenant's secret, and for some written as a gzipped CloudTrail log file to the trail bucket,
whose S3 notification reaches the trail's SQS queue."""

from __future__ import annotations

import gzip
import io
import json
import urllib.request
from urllib.parse import unquote_plus

import pytest
from django.core.management import CommandError, call_command

from devtools import demo_aws
from devtools.demo_history import HISTORY_PREFIX
from ingestion.models import SecurityGroupChange, Source, TrailSource
from tests.e2e.worker import FAKE_CREDENTIALS, moto_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def emulator(monkeypatch):
    with moto_server() as endpoint:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", b""))  # noqa: S310
        for name, value in FAKE_CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield endpoint


@pytest.fixture
def demo(settings, emulator, other_tenant, other_account):
    settings.SGPORTAL_DEMO = True
    call_command("seed_demo", stdout=io.StringIO())
    from sgportal.models import Tenant

    return Tenant.objects.get(slug="demo")


def test_changes_arrive_through_eventbridge_and_the_trail_bucket(demo, live_server, other_tenant):
    source = TrailSource.objects.get(tenant=demo)
    assert source.enabled and source.bucket == demo_aws.TRAIL_BUCKET
    assert source.read_role_arn == demo_aws.TRAIL_READ_ROLE and source.region == "us-east-1"
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "demo_trickle",
        count=8,
        interval=0,
        trail_share=1.0,
        seed=7,
        eventbridge_url=f"{live_server.url}/ingest/eventbridge/demo/",
        stdout=out,
        stderr=err,
    )
    assert "Duplicate" not in err.getvalue() and not err.getvalue(), err.getvalue()
    assert out.getvalue().count("EventBridge 200") == 8, out.getvalue()

    changes = SecurityGroupChange.objects.filter(tenant=demo).exclude(
        event_id__startswith=HISTORY_PREFIX  # seed_demo's past two weeks
    )
    assert changes.count() == 8
    assert {c.source for c in changes} == {Source.EVENTBRIDGE}
    # Varied: several groups, ports and people.
    assert len({c.group_id for c in changes}) >= 2
    assert len({c.actor_arn for c in changes}) >= 2
    assert len({json.dumps(c.rules, sort_keys=True) for c in changes}) == 8
    # The outsider tenant received nothing.
    assert not SecurityGroupChange.objects.filter(tenant=other_tenant).exists()

    # The trail side, read as the trail reader would: the queue's S3 notices name the files.
    session = demo_aws.session_in(demo_aws.TRAIL_READ_ROLE, external_id=demo.external_id)
    sqs, s3 = session.client("sqs"), session.client("s3")
    keys = []
    for _ in range(5):
        got = sqs.receive_message(QueueUrl=source.queue_url, MaxNumberOfMessages=10)
        for message in got.get("Messages", []):
            body = json.loads(message["Body"])
            for record in body.get("Records", []):
                assert record["eventSource"] == "aws:s3"
                assert record["eventName"].startswith("ObjectCreated:")
                keys.append(unquote_plus(record["s3"]["object"]["key"]))
        if len(keys) >= 8:
            break
    assert len(keys) == 8, keys
    event_ids = set(changes.values_list("event_id", flat=True))
    found = set()
    for key in keys:
        assert key.startswith(f"AWSLogs/{demo_aws.ORG_ID}/") and key.endswith(".json.gz")
        raw = s3.get_object(Bucket=demo_aws.TRAIL_BUCKET, Key=key)["Body"].read()
        text = gzip.decompress(raw).decode()
        assert text.startswith('{"Records":[{"eventVersion":')  # CloudTrail's compact shape
        records = json.loads(text)["Records"]
        assert len(records) >= 2  # the change among other events, as in real log files
        found |= {r["eventID"] for r in records} & event_ids
    assert found == event_ids


def test_the_emulator_keeps_the_changes_it_says_it_made(demo, live_server):
    call_command(
        "demo_trickle",
        count=3,
        interval=0,
        trail_share=0,
        seed=3,
        eventbridge_url=f"{live_server.url}/ingest/eventbridge/demo/",
        stdout=io.StringIO(),
    )
    change = (
        SecurityGroupChange.objects.filter(tenant=demo)
        .exclude(event_id__startswith=HISTORY_PREFIX)
        .first()
    )
    account_role = f"arn:aws:iam::{change.aws_account_id}:role/SgGuardSpoke"
    ec2 = demo_aws.session_in(account_role, external_id=demo.external_id).client(
        "ec2", region_name=change.region
    )
    rule_ids = [r["rule_id"] for r in change.rules]
    found = ec2.describe_security_group_rules(SecurityGroupRuleIds=rule_ids)
    assert {r["SecurityGroupRuleId"] for r in found["SecurityGroupRules"]} == set(rule_ids)


def test_a_wrong_secret_is_refused_and_nothing_is_stored(demo, live_server):
    record_url = f"{live_server.url}/ingest/eventbridge/demo/"
    event = demo_aws.eventbridge_event(
        {
            "eventVersion": "1.10",
            "eventTime": "2026-12-01T10:00:00Z",
            "eventName": "AuthorizeSecurityGroupIngress",
            "eventSource": "ec2.amazonaws.com",
            "awsRegion": "us-east-1",
            "recipientAccountId": "111111111111",
            "eventID": "11111111-2222-3333-4444-555555555555",
        }
    )
    status, answer = demo_aws.post_eventbridge(record_url, [event], secret="not-the-secret")  # noqa: S106
    assert status == 401 and "unauthorized" in answer
    assert not SecurityGroupChange.objects.filter(event_id=event["detail"]["eventID"]).exists()


def test_it_refuses_to_run_without_the_emulator(demo, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    with pytest.raises(CommandError, match="AWS emulator"):
        call_command("demo_trickle", count=1)
