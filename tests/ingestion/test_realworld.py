"""The 25 CloudTrail records AWS itself wrote (../shared/fixtures/cloudtrail/realworld, see
its PROVENANCE.md) parse right by AWS semantics: owning account, region, actor, tool, rules,
rule ids, error code and status."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from approvals.wording import tool_of
from ingestion.models import ChangeStatus, SecurityGroupChange
from ingestion.parser import parse_record, parse_text
from tests.ingestion.helpers import realworld, realworld_files

P, INFO = ChangeStatus.PENDING, ChangeStatus.INFORMATIONAL
CONSOLE, TF, CLI = "AWS console", "Terraform", "AWS CLI"
W4 = "0.0.0.0/0"

# number: (account, region, actor type, actor ARN, tool, status, error code, group id,
#          rules as (action, direction, protocol, from, to, peer, rule id))
EXPECTED = {
    1: ("032092706103", "us-northeast-1r", "IAMUser", "arn:aws:iam::032092706103:user/christophe",
        "stratus-red-team_1004a4ff-b486-4981-a84b-6322905f37cc", P, "", "sg-003dc7f1f1c686164",
        [("added", "ingress", "tcp", 22, 22, "208.236.235.254/0", "sgr-09b3e3d2ca1edf2a2")]),
    2: ("000000000", "us-east-1", "AssumedRole",
        "arn:aws:sts::000000000:assumed-role/ec2-instance-role/i-06815aa7cf7d21f8f", CLI, P, "",
        "sg-038ccc3a1f7b05f42",
        [("added", "egress", "tcp", 4444, 4444, "73.21.4.36/32", "sgr-02bdc373eac599585")]),
    3: ("000000000", "us-east-1", "IAMUser", "arn:aws:iam::000000000:user/test@elastic.co", CLI,
        P, "", "sg-0f63fecfa17ef4fee",
        [("added", "ingress", "tcp", 22, 22, "203.0.113.0/24", "sgr-027eb7c59241731e0")]),
    4: ("000000000000", "ap-northeast-2", "IAMUser", "arn:aws:iam::000000000000:user/test_user",
        TF, P, "", "sg-0e79c7acdf4a0225e",
        [("added", "ingress", "tcp", 22, 22, W4, "sgr-0ab4202bcd11d93d2")]),
    5: ("000000000000", "ap-northeast-2", "IAMUser", "arn:aws:iam::000000000000:user/test_user",
        TF, P, "", "sg-0e79c7acdf4a0225e",
        [("added", "egress", "-1", None, None, W4, "sgr-0842f7411dc6a5a34")]),
    6: ("000000000000", "ap-northeast-2", "IAMUser", "arn:aws:iam::000000000000:user/test_user",
        TF, P, "", "sg-0e79c7acdf4a0225e",
        [("removed", "ingress", "tcp", 22, 22, W4, "sgr-0ab4202bcd11d93d2")]),
    7: ("000000000000", "ap-northeast-2", "IAMUser", "arn:aws:iam::000000000000:user/test_user",
        TF, P, "", "sg-0e79c7acdf4a0225e",
        [("removed", "egress", "-1", None, None, W4, "sgr-0842f7411dc6a5a34")]),
    8: ("000000000000", "ap-northeast-2", "IAMUser", "arn:aws:iam::000000000000:user/test_user",
        CONSOLE, P, "", "sg-ef6e8186",
        [("modified", "", "tcp", 443, 443, "127.0.0.1/32", "sgr-0481972caed6e2e1c")]),
    9: ("000000000000", "ap-northeast-2", "IAMUser", "arn:aws:iam::000000000000:user/test",
        CONSOLE, INFO, "", "sg-YOUR_SECURITY_GROUP_ID", []),
    10: ("999999999999", "ap-northeast-1", "AssumedRole",
         "arn:aws:sts::999999999999:assumed-role/EC2Role/i-05c3bdc7f6a978bf4", TF, INFO, "",
         "sg-07111150655b49758", []),
    11: ("999999999999", "ap-northeast-1", "AssumedRole",
         "arn:aws:sts::999999999999:assumed-role/EC2Role/i-05c3bdc7f6a978bf4", TF, INFO, "",
         "", []),
    12: ("112233445566", "us-east-1", "AssumedRole",
         "arn:aws:sts::112233445566:assumed-role/Operator/ryan@example.com", TF, INFO, "",
         "sg-04d018d184a18f647", []),
    13: ("112233445566", "us-east-1", "AssumedRole",
         "arn:aws:sts::112233445566:assumed-role/ContinousDeployment/ryan@example.com", TF, P, "",
         "sg-03eee825d6bb78f54", [("added", "egress", "-1", None, None, W4, None)]),
    14: ("112233445566", "us-east-1", "AssumedRole",
         "arn:aws:sts::112233445566:assumed-role/Operator/ryan@example.com", "SDK (Go)", P, "",
         "sg-0d921df5d84f7270a", [("added", "ingress", "tcp", 22, 22, W4, None)]),
    15: ("112233445566", "us-west-2", "AssumedRole",
         "arn:aws:sts::112233445566:assumed-role/TestAdmin/alan", CONSOLE, P, "",
         "sg-04f0b44316f7d2471", [("added", "ingress", "tcp", 443, 443, "0.0.0.0/16", None)]),
    16: ("776520358045", "us-east-1", "AssumedRole",
         "arn:aws:sts::776520358045:assumed-role/voclabs/user289515=Jia_Jia", CONSOLE, P, "",
         "sg-0632fa4ee8a8468a4",
         [("added", "ingress", "tcp", 22, 22, W4, "sgr-09be5c962afdc06ed")]),
    17: ("245221346334", "us-east-1", "Root", "arn:aws:iam::245221346334:root", CONSOLE, P, "",
         "sg-012498864e98e1916",
         [("added", "ingress", "tcp", 25, 25, W4, "sgr-0e802a56a6c63d2ba")]),
    18: ("770203350335", "us-east-1", "AssumedRole",
         "arn:aws:sts::770203350335:assumed-role/Shibboleth-InfraMgt/wrh@bu.edu", "CloudFormation",
         P, "", "sg-01f414f5313452cd1",
         [("added", "ingress", "tcp", 1521, 1521, "sg-000537769a1c2d858 in 770203350335",
           "sgr-02e2ca7d55820dc26")]),
    19: ("770203350335", "us-east-1", "AssumedRole",
         "arn:aws:sts::770203350335:assumed-role/Shibboleth-InfraMgt/wrh@bu.edu", "CloudFormation",
         P, "", "sg-01f414f5313452cd1",
         [("added", "ingress", "tcp", 1521, 1521, "sg-0e4d6b8a99395a608 in 770203350335",
           "sgr-052f232f61106d4c4")]),
    20: ("123456789010", "us-east-1", "AssumedRole",
         "arn:aws:sts::123456789010:assumed-role/test_admin/joe@example.com", CONSOLE, P, "",
         "sg-4e386e31", [("added", "ingress", "tcp", 0, 65535, "sg-4e386e22", None)]),
    21: ("158142683155", "ap-northeast-2", "IAMUser",
         "arn:aws:iam::158142683155:user/nara@mz.co.kr", CONSOLE, P, "", "sg-007c4cf0863811b58",
         [("added", "ingress", "tcp", 6290, 6290, "0.0.0.0/16", None),
          ("added", "ingress", "tcp", 9062, 9062, "0.0.0.0/32", None)]),
    22: ("963584523464", "us-east-1", "Root", "arn:aws:iam::963584523464:root", CONSOLE, P, "",
         "sg-0db7d4784c4db8612",
         [("added", "ingress", "tcp", 22, 22, W4, None),
          ("added", "ingress", "tcp", 22, 22, "::/0", None)]),
    23: ("120833356027", "ap-south-1", "Root", "arn:aws:iam::120833356027:root", CONSOLE, INFO, "",
         "sg-0efcc20525890441d", []),
    24: ("222233334444", "eu-central-1", "IAMUser", "arn:aws:iam::222233334444:user/dev", CONSOLE,
         INFO, "", "", []),
    25: ("528591701539", "us-west-2", "AssumedRole",
         "arn:aws:sts::XXXXXXXXXX:assumed-role/AWSServiceRoleForAmazonEKS/AmazonEKS", "Amazon EKS",
         INFO, "Client.DependencyViolation", "sg-06efd8d3333bd0fa9", []),
}  # fmt: skip


def test_every_realworld_record_has_an_expectation():
    assert len(realworld_files()) == 25
    assert sorted(EXPECTED) == list(range(1, 26))


@pytest.mark.parametrize("number", sorted(EXPECTED))
def test_it_parses_each_aws_written_record_by_aws_semantics(number):
    account, region, actor_type, arn, tool, status, error, group, rules = EXPECTED[number]
    change = parse_record(realworld(number))
    assert (change.parse_error, change.parse_warnings) == ("", "")
    assert change.aws_account_id == account
    assert change.region == region
    assert (change.actor_type, change.actor_arn) == (actor_type, arn)
    assert tool_of(SecurityGroupChange(**change.model_fields())) == tool
    assert (change.status, change.error_code, change.group_id) == (status, error, group)
    assert [
        (r.action, r.direction, r.protocol, r.from_port, r.to_port, r.source, r.rule_id)
        for r in change.rules
    ] == rules


@pytest.mark.parametrize("number", [17, 18, 19, 20, 22, 24])
def test_it_reads_eventbridge_envelopes_as_text_and_as_objects_alike(number):
    rec = realworld(number)
    from_text = parse_text(json.dumps(rec))
    from_object = parse_record(rec)
    assert from_text.model_fields() == from_object.model_fields()
    assert from_object.raw == rec  # the envelope is part of the record as received


def test_it_takes_the_owning_account_from_the_envelope_when_the_record_lacks_it():
    # Item 2: 20, 22 and 24 carry no detail.recipientAccountId.
    for number, account in ((20, "123456789010"), (22, "963584523464"), (24, "222233334444")):
        rec = realworld(number)
        assert "recipientAccountId" not in rec["detail"]
        assert parse_record(rec).aws_account_id == account == rec["account"]


def test_it_takes_region_and_time_from_the_envelope_when_the_record_lacks_them():
    rec = realworld(22)
    del rec["detail"]["awsRegion"], rec["detail"]["eventTime"]
    change = parse_record(rec)
    assert change.region == "us-east-1"
    assert change.event_time == datetime(2021, 5, 7, 17, 42, 22, tzinfo=UTC)
    assert change.status == ChangeStatus.PENDING


def test_it_uses_the_envelope_id_when_the_record_has_no_event_id():
    rec = realworld(22)
    del rec["detail"]["eventID"]
    change = parse_record(rec)
    assert change.event_id == f"eventbridge:{rec['id']}"
    assert change.status == ChangeStatus.PENDING
    assert "EventBridge event id" in change.parse_warnings


def test_it_says_when_the_record_and_the_envelope_disagree_on_the_account():
    rec = realworld(17)
    rec["account"] = "999999999999"
    change = parse_record(rec)
    assert change.aws_account_id == "245221346334"  # the record's own field wins
    assert "differs from the EventBridge account 999999999999" in change.parse_warnings


def test_it_keeps_invoked_by_and_reads_lowercased_identity_keys():
    # Item 3: CloudFormation for a console session; Panther's lower-cased userIdentity (15).
    cfn = parse_record(realworld(18))
    assert (cfn.invoked_by, cfn.via_console) == ("cloudformation.amazonaws.com", True)
    panther = parse_record(realworld(15))
    assert panther.actor_account_id == "112233445566"
    assert panther.session_issuer_arn == "arn:aws:iam::112233445566:role/TestAdmin"
    assert panther.event_time == datetime(2021, 1, 24, 4, 55, 45, tzinfo=UTC)


@pytest.mark.parametrize("number", [9, 20, 21, 22, 24])
def test_it_treats_old_console_user_agents_as_console_calls(number):
    change = parse_record(realworld(number))
    assert change.user_agent in {"console.ec2.amazonaws.com", "signin.amazonaws.com"}
    assert change.via_console is True
