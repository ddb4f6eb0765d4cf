"""?format=ocsf: every object the API hands out validates against the released OCSF 1.5.0
schema itself (shipped by the ocsf-json-schema package), not against our reading of it."""

from __future__ import annotations

import datetime as dt
from functools import cache

import pytest
from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from approvals.api.ocsf import OCSF_VERSION, change_to_ocsf, revert_to_ocsf
from ingestion.models import ChangeStatus, SecurityGroupChange
from tests.api import assert_error, assert_unauthenticated, call, tokens_fixture  # noqa: F401
from tests.approvals.factories import ChangeFactory

PROFILES = {6003: ["cloud", "datetime"], 7001: ["cloud", "datetime", "host"]}


@cache
def validator(class_uid: int) -> Draft202012Validator:
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION))
    name = schema.lookup_class_name_from_uid(class_uid=class_uid)
    return Draft202012Validator(schema.get_class_schema(name, profiles=PROFILES[class_uid]))


def assert_valid(event: dict) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(event["class_uid"]).iter_errors(event)
    ]
    assert not errors, errors
    assert event["metadata"]["version"] == OCSF_VERSION
    assert event["metadata"]["profiles"] == PROFILES[event["class_uid"]]


def ocsf(client, token, url, params=None, method="get", data=None):
    if method == "get":
        return call(client, "get", url, token, {**(params or {}), "format": "ocsf"})
    return call(client, method, f"{url}?format=ocsf", token, data)


def varied_changes(account) -> list[SecurityGroupChange]:
    """One change of each shape the mapping distinguishes."""
    return [
        ChangeFactory(account=account, request_id="req-1"),  # ssh from the world: critical
        ChangeFactory(
            account=account,
            event_name="RevokeSecurityGroupEgress",
            source_ip="ec2.amazonaws.com",
            actor_type="AWSService",
        ),
        ChangeFactory(
            account=account,
            event_name="ModifySecurityGroupRules",
            source_ip="2001:db8::1",
            actor_type="AssumedRole",
            session_issuer_arn="arn:aws:iam::111111111111:role/deployer",
            rules=[],
        ),
        ChangeFactory(
            account=account,
            status=ChangeStatus.INFORMATIONAL,
            error_code="Client.UnauthorizedOperation",
            error_message="You are not authorized",
            event_name="CreateSecurityGroup",
            vpc_id="",
        ),
    ]


def test_the_list_is_api_activity_valid_against_the_ocsf_schema(
    client, tokens, account, other_account
):
    changes = varied_changes(account)
    ChangeFactory(account=other_account)
    response = ocsf(client, tokens.read, "/api/v1/changes/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/vnd.ocsf+json")
    events = response.json()["results"]
    assert [e["unmapped"]["sgportal"]["change_id"] for e in events] == [c.pk for c in changes]
    for event in events:
        assert_valid(event)
    first, revoke, modify, failed = events
    assert (first["class_uid"], first["type_uid"], first["activity_id"]) == (6003, 600301, 1)
    assert first["severity_id"] == 5  # tcp/22 from 0.0.0.0/0: critical
    assert first["api"]["operation"] == "AuthorizeSecurityGroupIngress"
    assert first["api"]["request"] == {"uid": "req-1"}
    assert first["src_endpoint"] == {"ip": "198.51.100.23"}
    assert first["cloud"]["account"] == {
        "uid": "111111111111",
        "name": "prod-payments",
        "type_id": 10,
    }
    resource = first["resources"][0]
    assert resource["uid"] == "sg-0123456789abcdef0"
    assert resource["type"] == "AWS::EC2::SecurityGroup"
    assert resource["data"]["rules"][0]["cidr_ipv4"] == "0.0.0.0/0"
    assert first["metadata"]["uid"] == changes[0].event_id
    assert first["time"] == int(changes[0].event_time.timestamp() * 1000)
    assert revoke["activity_id"] == 4 and revoke["src_endpoint"] == {"name": "ec2.amazonaws.com"}
    assert revoke["actor"]["user"]["type_id"] == 3
    assert modify["activity_id"] == 3 and modify["src_endpoint"] == {"ip": "2001:db8::1"}
    assert modify["actor"]["session"] == {"issuer": "arn:aws:iam::111111111111:role/deployer"}
    assert failed["status_id"] == 2 and failed["status_code"] == "Client.UnauthorizedOperation"
    assert failed["severity_id"] == 1
    # The outsider's OCSF list holds only its own change.
    theirs = ocsf(client, tokens.outsider, "/api/v1/changes/").json()["results"]
    assert [e["cloud"]["account"]["uid"] for e in theirs] == ["999999999999"]


def test_the_detail_carries_the_raw_record_and_hides_other_tenants(
    client, tokens, account, other_account
):
    change = ChangeFactory(account=account, raw={"eventID": "e-1", "eventName": "X"})
    theirs = ChangeFactory(account=other_account)
    event = ocsf(client, tokens.read, f"/api/v1/changes/{change.pk}/").json()
    assert_valid(event)
    assert '"eventID":"e-1"' in event["raw_data"]
    assert_error(ocsf(client, tokens.read, f"/api/v1/changes/{theirs.pk}/"), 404, "not_found")
    assert_error(ocsf(client, tokens.outsider, f"/api/v1/changes/{change.pk}/"), 404, "not_found")
    assert_unauthenticated(client, "get", f"/api/v1/changes/{change.pk}/?format=ocsf", tokens)


@pytest.mark.parametrize(
    ("event_name", "verdict", "activity"),
    [
        ("AuthorizeSecurityGroupIngress", "deny", (4, "Harden")),
        ("RevokeSecurityGroupIngress", "deny", (3, "Restore")),
        ("AuthorizeSecurityGroupIngress", "approve", (99, "Approve")),
    ],
)
def test_a_decision_is_a_remediation_activity(
    client, tokens, account, event_name, verdict, activity
):
    change = ChangeFactory(account=account, event_name=event_name)
    url = f"/api/v1/changes/{change.pk}/decision/"
    data = {"verdict": verdict, "reason": "reviewed"}
    response = ocsf(client, tokens.decide, url, method="post", data=data)
    assert response.status_code == 201, response.content
    event = response.json()
    assert_valid(event)
    assert (event["class_uid"], event["type_uid"]) == (7001, 700100 + activity[0])
    assert (event["activity_id"], event["activity_name"]) == activity
    assert event["command_uid"] == f"sgportal-change-{change.pk}"
    assert event["metadata"]["correlation_uid"] == change.event_id
    assert event["actor"]["user"]["name"].startswith("api-token:decide")
    assert event["unmapped"]["sgportal"]["verdict"] == verdict


@pytest.mark.django_db(transaction=True)  # the updates feed sees committed status moves
def test_the_updates_feed_gives_decisions_and_revert_outcomes(client, tokens, account):
    denied, reverted, failed = (ChangeFactory(account=account) for _ in range(3))
    for change in (denied, reverted, failed):
        call(
            client,
            "post",
            f"/api/v1/changes/{change.pk}/decision/",
            tokens.decide,
            {"verdict": "deny", "reason": "opens SSH to the world"},
        )
    now = dt.datetime(2026, 9, 15, tzinfo=dt.UTC)
    SecurityGroupChange.objects.filter(pk=reverted.pk).update(
        status=ChangeStatus.REVERTED, status_changed_at=now
    )
    SecurityGroupChange.objects.filter(pk=failed.pk).update(
        status=ChangeStatus.REVERT_FAILED, status_changed_at=now
    )
    body = ocsf(client, tokens.read, "/api/v1/changes/", {"updated_since": "0"}).json()
    events = {e["unmapped"]["sgportal"]["change_id"]: e for e in body["results"]}
    assert set(events) == {denied.pk, reverted.pk, failed.pk}
    for event in events.values():
        assert_valid(event)
        assert event["class_uid"] == 7001
    assert events[denied.pk]["unmapped"]["sgportal"]["verdict"] == "deny"
    assert events[reverted.pk]["status_id"] == 1 and events[reverted.pk]["time"] == int(
        now.timestamp() * 1000
    )
    assert events[failed.pk]["status_id"] == 2
    assert (
        ocsf(client, tokens.outsider, "/api/v1/changes/", {"updated_since": "0"}).json()["results"]
        == []
    )


def test_builders_stay_valid_for_every_revert_outcome(account):
    change = ChangeFactory(account=account)
    assert_valid(change_to_ocsf(change, raw=True))
    for outcome in ("reverted", "auto_reverted", "revert_failed", "dry_run", "undone"):
        event = revert_to_ocsf(change, attempt_id=7, outcome=outcome, detail="why")
        assert_valid(event)
        assert event["metadata"]["uid"] == "revert-7" and event["status_detail"] == "why"


def test_an_unknown_format_is_refused(client, tokens, account):
    response = call(client, "get", "/api/v1/changes/", tokens.read, {"format": "xml"})
    assert response.status_code == 404
