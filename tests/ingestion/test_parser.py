"""The record parser: every shared fixture, the awkward shapes, and arbitrary input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.lake import EVENT_NAMES
from ingestion.models import ChangeStatus
from ingestion.parser import parse_record, parse_text
from tests.ingestion.helpers import load, record

SPOKE = "arn:aws:iam::111111111111:role/SgGuardSpoke"


def rules(change) -> list[dict]:
    """The rules without empty values, for readable comparisons."""
    return [{k: v for k, v in r.to_json().items() if v not in (None, {}, "")} for r in change.rules]


def test_it_parses_an_ipv4_ipv6_authorize_with_rule_ids():
    change = parse_record(record(1))
    assert change.status == ChangeStatus.PENDING
    assert change.event_id == "3f7c2a1e-5b8d-4c6a-9e21-7d4b0c9a1f01"
    assert change.event_name == "AuthorizeSecurityGroupIngress"
    assert change.event_time == datetime(2026, 9, 14, 8, 2, 11, tzinfo=UTC)
    assert (change.aws_account_id, change.region) == ("111111111111", "us-east-1")
    assert change.actor_type == "IAMUser"
    assert change.actor_arn == "arn:aws:iam::111111111111:user/alice"
    assert change.session_issuer_arn == ""
    assert change.via_console is False
    assert change.source_ip == "198.51.100.23"
    assert change.user_agent.startswith("aws-cli/2.17.42")
    assert change.group_id == "sg-0a1b2c3d4e5f60718"
    assert change.request_id == "a1c3e5f7-0b2d-4f6a-8c9e-1a2b3c4d5e01"
    assert change.parse_error == ""
    assert rules(change) == [
        {
            "action": "added",
            "direction": "ingress",
            "protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
            "cidr_ipv4": "203.0.113.0/24",
            "description": "office ssh",
            "rule_id": "sgr-0f1e2d3c4b5a69788",
        },
        {
            "action": "added",
            "direction": "ingress",
            "protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
            "cidr_ipv4": "198.51.100.7/32",
            "rule_id": "sgr-01234abcd5678ef90",
        },
        {
            "action": "added",
            "direction": "ingress",
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "cidr_ipv6": "::/0",
            "description": "public https v6",
            "rule_id": "sgr-0abcdef1234567890",
        },
    ]


def test_it_parses_group_references_and_prefix_lists_from_a_console_session():
    change = parse_record(record(2))
    assert change.status == ChangeStatus.PENDING
    assert change.actor_type == "AssumedRole"
    assert change.session_issuer_arn.endswith(
        ":role/aws-reserved/sso.amazonaws.com/eu-west-1/"
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
    )
    assert change.via_console is True
    assert (change.source_ip, change.user_agent) == ("AWS Internal", "AWS Internal")
    assert rules(change) == [
        {
            "action": "added",
            "direction": "ingress",
            "protocol": "tcp",
            "from_port": 5432,
            "to_port": 5432,
            "referenced_group_id": "sg-0f6a7b8c9d0e1f2a3",
            # the request omits the owner of a same-account group; the response names it
            "referenced_account_id": "222222222222",
            "description": "app tier",
            "rule_id": "sgr-02a4c6e8f0b1d3579",
        },
        {
            "action": "added",
            "direction": "ingress",
            "protocol": "tcp",
            "from_port": 5432,
            "to_port": 5432,
            "referenced_group_id": "sg-0123456789abcdef1",
            "referenced_account_id": "111111111111",
            "description": "peered reporting",
            "rule_id": "sgr-03b5d7f9a1c2e4680",
        },
        {
            "action": "added",
            "direction": "ingress",
            "protocol": "-1",
            "prefix_list_id": "pl-0a1b2c3d4e5f67890",
            "description": "corp networks",
            "rule_id": "sgr-04c6e8a0b2d4f6791",
        },
    ]


def test_it_parses_egress_by_root():
    change = parse_record(record(3))
    assert (change.actor_type, change.actor_arn) == ("Root", "arn:aws:iam::222222222222:root")
    assert change.via_console is True
    assert [(r.direction, r.protocol, r.from_port, r.to_port, r.rule_id) for r in change.rules] == [
        ("egress", "tcp", 443, 443, "sgr-05d7f9b1c3e5a7802"),
        ("egress", "udp", 53, 53, "sgr-06e8a0c2d4f6b8913"),
    ]
    assert change.rules[0].cidr_ipv4 == "0.0.0.0/0"
    assert change.rules[1].cidr_ipv6 == "2001:db8:1234::/48"


def test_it_sends_a_spoke_role_call_outside_our_revert_sessions_to_review():
    # Finding 9.5: anyone who can assume the spoke role must not escape review.
    rec = record(4)
    rec["userIdentity"]["arn"] = "arn:aws:sts::111111111111:assumed-role/SgGuardSpoke/alice-manual"
    change = parse_record(rec, own_role_arns=[SPOKE])
    assert change.status == ChangeStatus.PENDING
    assert change.via_spoke_role is True
    assert change.own_claim is None
    assert change.session_issuer_arn == SPOKE
    assert rules(change) == [
        {
            "action": "removed",
            "direction": "ingress",
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "cidr_ipv6": "::/0",
            "description": "public https v6",
            "rule_id": "sgr-0abcdef1234567890",
        }
    ]


def test_it_claims_a_spoke_role_call_in_a_revert_session_for_the_store_to_check():
    rec = record(4)
    rec["userIdentity"]["arn"] = (
        "arn:aws:sts::111111111111:assumed-role/SgGuardSpoke/sgportal-change-42"
    )
    rec["userIdentity"]["sessionContext"]["sourceIdentity"] = "bob"
    change = parse_record(rec, own_role_arns=[SPOKE])
    # Not ours by itself: only a matching revert attempt makes it so (tests/ingestion/test_store).
    assert change.status == ChangeStatus.PENDING
    assert change.via_spoke_role is True
    assert change.own_claim == {
        "kind": "revert",
        "change_id": 42,
        "session_name": "sgportal-change-42",
        "source_identity": "bob",
    }


def test_it_leaves_a_revoke_by_rule_id_pending_when_the_role_is_not_ours():
    other = "arn:aws:iam::222222222222:role/SgGuardSpoke"  # same name, other account
    change = parse_record(record(4), own_role_arns=[other])
    assert (change.status, change.via_spoke_role) == (ChangeStatus.PENDING, False)
    assert parse_record(record(4)).via_spoke_role is False


def test_it_recognises_our_role_by_the_assumed_role_arn_and_a_role_path():
    rec = record(4)
    del rec["userIdentity"]["sessionContext"]
    own = ["arn:aws:iam::111111111111:role/sgportal/SgGuardSpoke"]
    assert parse_record(rec, own_role_arns=own).via_spoke_role is True


def test_it_keeps_unresolved_rule_ids_when_the_revoked_set_is_missing():
    rec = record(4)
    rec["requestParameters"]["securityGroupRuleIds"]["items"].append(
        {"securityGroupRuleId": "sgr-0000000000000beef"}
    )
    del rec["responseElements"]["revokedSecurityGroupRuleSet"]
    change = parse_record(rec)
    assert [(r.rule_id, r.protocol, r.direction, r.action) for r in change.rules] == [
        ("sgr-0abcdef1234567890", "", "ingress", "removed"),
        ("sgr-0000000000000beef", "", "ingress", "removed"),
    ]
    assert all("unresolved" in r.extra for r in change.rules)


def test_it_parses_a_revoke_of_all_traffic_egress_by_permission():
    change = parse_record(record(5))
    assert change.status == ChangeStatus.PENDING
    assert rules(change) == [
        {"action": "removed", "direction": "egress", "protocol": "-1", "cidr_ipv4": "0.0.0.0/0"}
    ]


def test_it_parses_the_modify_envelope_as_one_object():
    change = parse_record(record(6))
    assert change.status == ChangeStatus.PENDING
    assert change.group_id == "sg-0c3d4e5f6a7b8c9d0"
    assert rules(change) == [
        {
            "action": "modified",
            "protocol": "tcp",
            "from_port": 3389,
            "to_port": 3389,
            "cidr_ipv4": "0.0.0.0/0",
            "description": "temp rdp",
            "rule_id": "sgr-0c0ffee0c0ffee000",
            "extra": {"tag": 1},
        }
    ]
    assert change.rules[0].direction == ""  # the request does not say


def test_it_parses_the_modify_envelope_as_a_list():
    rec = record(6)
    request = rec["requestParameters"]["ModifySecurityGroupRulesRequest"]
    second = {
        "SecurityGroupRuleId": "sgr-0aaaabbbbccccdddd",
        "SecurityGroupRule": {
            "IpProtocol": "58",
            "FromPort": "-1",
            "ToPort": "-1",
            "CidrIpv6": "2001:db8::/32",
        },
        "tag": 2,
    }
    third = {
        "SecurityGroupRuleId": "sgr-0eeeeffff00001111",
        "SecurityGroupRule": {"IpProtocol": "-1", "ReferencedGroupId": "sg-0ref"},
        "tag": 3,
    }
    request["SecurityGroupRule"] = [request["SecurityGroupRule"], second, third]
    change = parse_record(rec)
    assert [(r.rule_id, r.protocol, r.from_port, r.to_port) for r in change.rules] == [
        ("sgr-0c0ffee0c0ffee000", "tcp", 3389, 3389),
        ("sgr-0aaaabbbbccccdddd", "icmpv6", -1, -1),
        ("sgr-0eeeeffff00001111", "-1", None, None),
    ]
    assert change.rules[1].cidr_ipv6 == "2001:db8::/32"
    assert change.rules[2].referenced_group_id == "sg-0ref"


def test_it_makes_a_failed_call_with_flat_parameters_informational():
    change = parse_record(record(7))
    assert change.status == ChangeStatus.INFORMATIONAL
    assert change.error_code == "Client.UnauthorizedOperation"
    assert change.error_message.startswith("You are not authorized")
    assert rules(change) == [
        {
            "action": "added",
            "direction": "ingress",
            "protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
            "cidr_ipv4": "0.0.0.0/0",
        }
    ]


def test_it_makes_a_dry_run_informational():
    rec = record(1)
    rec["errorCode"] = "Client.DryRunOperation"
    rec["responseElements"] = None
    change = parse_record(rec)
    assert change.status == ChangeStatus.INFORMATIONAL
    assert [r.rule_id for r in change.rules] == [None, None, None]


def test_it_makes_create_and_delete_informational():
    create = parse_record(record(8))
    assert create.status == ChangeStatus.INFORMATIONAL
    assert (create.group_id, create.group_name, create.vpc_id) == (
        "sg-0e5f6a7b8c9d0e1f2",
        "batch-workers",
        "vpc-0aa11bb22cc33dd44",
    )
    assert create.rules == []
    delete = parse_record(record(9))
    assert delete.status == ChangeStatus.INFORMATIONAL
    assert delete.group_id == "sg-0d4e5f6a7b8c9d0e1"


@pytest.mark.parametrize(
    ("given_protocol", "expected"),
    [
        ("6", "tcp"),
        ("17", "udp"),
        ("1", "icmp"),
        ("58", "icmpv6"),
        ("50", "50"),
        (-1, "-1"),
        ("TCP", "tcp"),
        (6, "tcp"),
    ],
)
def test_it_normalizes_protocols(given_protocol, expected):
    rec = record(1)
    permission = rec["requestParameters"]["ipPermissions"]["items"][0]
    permission["ipProtocol"] = given_protocol
    del rec["responseElements"]["securityGroupRuleSet"]
    assert parse_record(rec).rules[0].protocol == expected


def test_it_coerces_ports_given_as_strings_and_still_matches_rule_ids():
    rec = record(1)
    for permission in rec["requestParameters"]["ipPermissions"]["items"]:
        permission["fromPort"] = str(permission["fromPort"])
        permission["toPort"] = str(permission["toPort"])
        permission["ipProtocol"] = "6"
    change = parse_record(rec)
    assert [(r.from_port, r.to_port, r.rule_id) for r in change.rules] == [
        (22, 22, "sgr-0f1e2d3c4b5a69788"),
        (22, 22, "sgr-01234abcd5678ef90"),
        (443, 443, "sgr-0abcdef1234567890"),
    ]


def test_it_parses_icmp_type_and_code_and_esp_without_ports():
    rec = load("extra_icmp_esp_flat_group.json")
    change = parse_record(rec)
    assert change.status == ChangeStatus.PENDING
    assert [
        (r.protocol, r.from_port, r.to_port, r.cidr_ipv4, r.cidr_ipv6, r.rule_id)
        for r in change.rules
    ] == [
        ("icmp", 8, 0, "10.0.0.0/8", None, "sgr-0icmp000000000001"),
        ("icmpv6", -1, -1, None, "::/0", "sgr-0icmp000000000002"),
        ("50", None, None, "192.0.2.0/24", None, "sgr-0esp0000000000003"),
    ]


def test_it_parses_the_legacy_flat_source_group_form():
    rec = record(7)
    del rec["errorCode"]
    rec["requestParameters"] = {
        "groupName": "default",
        "ipPermissions": {},
        "sourceSecurityGroupName": "web",
        "sourceSecurityGroupOwnerId": "111111111111",
    }
    change = parse_record(rec)
    assert change.group_name == "default"
    assert [(r.protocol, r.referenced_account_id, r.extra) for r in change.rules] == [
        ("-1", "111111111111", {"referenced_group_name": "web"})
    ]


def test_it_adds_response_rules_the_request_did_not_explain():
    rec = record(1)
    rec["requestParameters"]["ipPermissions"] = {"items": "garbled"}
    change = parse_record(rec)
    assert change.status == ChangeStatus.PENDING
    assert [r.rule_id for r in change.rules] == [
        "sgr-0f1e2d3c4b5a69788",
        "sgr-01234abcd5678ef90",
        "sgr-0abcdef1234567890",
    ]


def test_it_flags_rules_aws_did_not_find_on_revoke():
    rec = record(5)
    rec["responseElements"]["unknownIpPermissionSet"] = {
        "items": [{"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]
    }
    assert parse_record(rec).rules[0].extra == {"not_found": True}


def test_it_unwraps_an_eventbridge_envelope():
    change = parse_record(load("eventbridge_envelope.json"))
    assert change.event_id == record(2)["eventID"]
    assert len(change.rules) == 3


def test_it_parses_lake_event_json_text_and_keeps_the_text():
    page = load("lake_query_results_page1.json")
    text = next(c["eventJson"] for c in page["QueryResultRows"][0] if "eventJson" in c)
    change = parse_text(text)
    assert change.event_id == record(1)["eventID"]
    assert change.raw == record(1)
    assert change.raw_text == text


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("{not json", "not JSON"),
        ('["a", "list"]', "JSON object"),
        ('{"eventName": "AuthorizeSecurityGroupIngress"}', "no eventID"),
        ('{"eventID": "e-1", "eventName": "AuthorizeSecurityGroupIngress"}', "no eventTime"),
        ('{"eventID": "e-2", "eventTime": "yesterday", "eventName": "X"}', "not a timestamp"),
        ('{"eventID": "e-3", "eventTime": NaN}', "not JSON"),
    ],
)
def test_it_keeps_what_it_cannot_parse(raw, error):
    change = parse_text(raw)
    assert change.status == ChangeStatus.UNPARSEABLE
    assert error in change.parse_error
    assert change.event_id
    assert change.raw is not None
    # the same bad record gets the same id, so re-reading it does not duplicate it
    assert parse_text(raw).event_id == change.event_id


def test_it_cleans_characters_postgres_cannot_store():
    rec = record(1)
    rec["userAgent"] = "evil\x00agent\ud800"
    for change in (parse_text(json.dumps(rec)), parse_record(rec)):
        assert change.user_agent == "evilagent\ufffd"
        assert change.raw["userAgent"] == "evilagent\ufffd"
        assert change.raw_text is None
        assert change.status == ChangeStatus.PENDING


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=6)
    ),
    max_leaves=40,
)

# Records that look like CloudTrail, with any value in any place.
shaped = st.fixed_dictionaries(
    {
        "eventID": st.one_of(st.text(max_size=80), json_values),
        "eventTime": st.one_of(st.just("2026-09-14T08:02:11Z"), json_values),
        "eventName": st.sampled_from([*EVENT_NAMES, "Other"]) | json_values,
        "userIdentity": json_values,
        "requestParameters": st.dictionaries(
            st.sampled_from(
                [
                    "groupId",
                    "ipPermissions",
                    "securityGroupRuleIds",
                    "ModifySecurityGroupRulesRequest",
                    "ipProtocol",
                    "fromPort",
                    "cidrIp",
                    "sourceSecurityGroupName",
                ]
            ),
            json_values,
        ),
        "responseElements": st.dictionaries(
            st.sampled_from(
                [
                    "securityGroupRuleSet",
                    "revokedSecurityGroupRuleSet",
                    "unknownIpPermissionSet",
                    "groupId",
                ]
            ),
            json_values,
        )
        | json_values,
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, shaped))
def test_it_never_raises_on_arbitrary_json(value):
    change = parse_record(value, own_role_arns=[SPOKE])
    assert change.event_id and len(change.event_id) <= 64
    assert change.status in ChangeStatus.values
    assert (change.status == ChangeStatus.UNPARSEABLE) == bool(change.parse_error)
    json.dumps(change.model_fields(), default=str)  # storable
    text_change = parse_text(json.dumps(value))
    assert text_change.event_id == change.event_id


@pytest.mark.parametrize(
    "text",
    [
        '{"eventID": "e-1", "n": 123456789012345678901234567890}',
        '{"eventID": "e-2", "s": "\\ud800 lone"}',
        '{"eventID": "e-3", "s": "\\ud83d\\ude00 pair"}',
    ],
)
def test_the_fast_and_the_standard_decoder_agree(text):
    change = parse_text(text)
    assert change.event_id == json.loads(text)["eventID"]
    assert change.status == ChangeStatus.UNPARSEABLE  # no eventTime, but kept by its own id
    assert "no eventTime" in change.parse_error


def _comparable(change) -> dict:
    fields = change.model_fields()
    fields.pop("raw")
    return fields


def test_every_source_shape_of_a_record_parses_the_same():
    """Lake eventJson, trail Records[] and the record files: one parser, one answer."""
    trail = load("trail_log_file_all_records.json")["Records"]
    lake_rows = (
        load("lake_query_results_page1.json")["QueryResultRows"]
        + load("lake_query_results_page2.json")["QueryResultRows"]
    )
    lake = {}
    for row in lake_rows:
        text = next(cell["eventJson"] for cell in row if "eventJson" in cell)
        change = parse_text(text, own_role_arns=[SPOKE])
        lake[change.event_id] = change
    files = [parse_record(record(n), own_role_arns=[SPOKE]) for n in range(1, 10)]
    assert len(trail) == len(lake) == len(files) == 9
    for from_file in files:
        from_trail = next(
            parse_record(r, own_role_arns=[SPOKE])
            for r in trail
            if r["eventID"] == from_file.event_id
        )
        assert _comparable(lake[from_file.event_id]) == _comparable(from_file)
        assert _comparable(from_trail) == _comparable(from_file)
    assert [c.status for c in files] == [
        ChangeStatus.PENDING,
        ChangeStatus.PENDING,
        ChangeStatus.PENDING,
        ChangeStatus.PENDING,  # the spoke role outside a revert session: reviewed
        ChangeStatus.PENDING,
        ChangeStatus.PENDING,
        ChangeStatus.INFORMATIONAL,
        ChangeStatus.INFORMATIONAL,
        ChangeStatus.INFORMATIONAL,
    ]


# --- damaged records (issue 10, item 1): never invent a rule ---------------------------


@pytest.mark.parametrize("params", [None, "groupId=sg-1&ipPermissions=...", ["x"], 7])
def test_it_refuses_request_parameters_that_are_not_an_object(params):
    rec = record(1)
    rec["requestParameters"] = params
    change = parse_record(rec)
    assert change.status == ChangeStatus.UNPARSEABLE
    assert "requestParameters is" in change.parse_error
    assert change.rules == []


def test_it_refuses_response_elements_that_are_not_an_object():
    rec = record(1)
    rec["responseElements"] = "garbled"
    change = parse_record(rec)
    assert change.status == ChangeStatus.UNPARSEABLE
    assert "responseElements is a str" in change.parse_error


def test_it_makes_an_authorize_without_readable_rules_unparseable():
    rec = record(1)
    rec["requestParameters"]["ipPermissions"] = {"items": {}}
    rec["responseElements"]["securityGroupRuleSet"] = {"items": [{}]}
    change = parse_record(rec)
    assert change.status == ChangeStatus.UNPARSEABLE
    assert "carries no rule that can be read" in change.parse_error
    assert change.rules == []


def test_it_makes_a_rule_change_without_a_group_unparseable():
    rec = record(1)
    del rec["requestParameters"]["groupId"]
    for item in rec["responseElements"]["securityGroupRuleSet"]["items"]:
        del item["groupId"]
    change = parse_record(rec)
    assert (change.status, change.parse_error) == (
        ChangeStatus.UNPARSEABLE,
        "AuthorizeSecurityGroupIngress names no security group",
    )


def test_it_keeps_the_real_rules_and_says_what_it_dropped():
    rec = record(1)  # three real rules with ids
    rec["responseElements"]["securityGroupRuleSet"]["items"] += [{}, {"ipProtocol": "tcp"}]
    rec["requestParameters"]["ipPermissions"]["items"].append({"ipRanges": {"items": [{}]}})
    change = parse_record(rec)
    assert change.status == ChangeStatus.PENDING
    assert [r.rule_id for r in change.rules] == [
        "sgr-0f1e2d3c4b5a69788",
        "sgr-01234abcd5678ef90",
        "sgr-0abcdef1234567890",
    ]
    assert all(r.protocol == "tcp" and r.source != "?" for r in change.rules)
    assert "dropped 1 empty securityGroupRuleSet item(s)" in change.parse_warnings
    assert "dropped a response rule without a source" in change.parse_warnings
    assert "dropped a permission without ipProtocol" in change.parse_warnings


def test_it_never_turns_an_empty_response_item_into_an_all_traffic_rule():
    rec = record(1)
    rec["responseElements"]["securityGroupRuleSet"]["items"].append({"securityGroupRuleId": "x"})
    change = parse_record(rec)
    assert len(change.rules) == 3
    assert not [r for r in change.rules if r.protocol == "-1"]


def test_it_drops_a_modify_entry_without_a_rule_id_or_source():
    rec = record(6)
    request = rec["requestParameters"]["ModifySecurityGroupRulesRequest"]
    request["SecurityGroupRule"] = [request["SecurityGroupRule"], {"tag": 2}, "junk"]
    change = parse_record(rec)
    assert change.status == ChangeStatus.PENDING
    assert len(change.rules) == 1
    assert "without a rule id or protocol" in change.parse_warnings
    request["SecurityGroupRule"] = [{"tag": 2}]
    assert parse_record(rec).status == ChangeStatus.UNPARSEABLE


def test_a_failed_call_with_odd_parameters_stays_informational():
    rec = record(7)
    rec["requestParameters"] = None
    change = parse_record(rec)
    assert (change.status, change.parse_error) == (ChangeStatus.INFORMATIONAL, "")
