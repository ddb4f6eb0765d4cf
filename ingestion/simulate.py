"""Make a real security-group call and build the CloudTrail record AWS would log for it.

For the demo trickle and the end-to-end tests: the call goes to whatever EC2 endpoint the
client uses (the moto server there), and the record follows the shapes in
tests/fixtures/cloudtrail/ (XML-style ``items`` lists, ``{}`` for empty ones,
``securityGroupRuleSet`` in the response), so it takes the same parser path as Lake,
EventBridge and trail records.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ingestion.models import EventName

_SOURCE_KEYS = {
    "IpRanges": ("ipRanges", "CidrIp", "cidrIp"),
    "Ipv6Ranges": ("ipv6Ranges", "CidrIpv6", "cidrIpv6"),
    "PrefixListIds": ("prefixListIds", "PrefixListId", "prefixListId"),
}


def _items(values: list[dict]) -> dict:
    return {"items": values} if values else {}


def _permission_to_record(permission: dict) -> dict:
    item: dict[str, Any] = {"ipProtocol": permission["IpProtocol"]}
    if "FromPort" in permission:
        item["fromPort"] = permission["FromPort"]
        item["toPort"] = permission["ToPort"]
    for boto_key, (xml_key, boto_field, xml_field) in _SOURCE_KEYS.items():
        sources = []
        for source in permission.get(boto_key, []):
            entry = {xml_field: source[boto_field]}
            if source.get("Description"):
                entry["description"] = source["Description"]
            sources.append(entry)
        item[xml_key] = _items(sources)
    groups = [
        {"groupId": pair["GroupId"], **({"userId": pair["UserId"]} if "UserId" in pair else {})}
        for pair in permission.get("UserIdGroupPairs", [])
    ]
    item["groups"] = _items(groups)
    return item


def _rule_to_record(rule: dict, account_id: str) -> dict:
    item = {
        "groupOwnerId": rule.get("GroupOwnerId", account_id),
        "groupId": rule["GroupId"],
        "securityGroupRuleId": rule["SecurityGroupRuleId"],
        "isEgress": rule["IsEgress"],
        "ipProtocol": rule["IpProtocol"],
        "fromPort": rule.get("FromPort", -1),
        "toPort": rule.get("ToPort", -1),
    }
    for key, xml in (
        ("CidrIpv4", "cidrIpv4"),
        ("CidrIpv6", "cidrIpv6"),
        ("PrefixListId", "prefixListId"),
    ):
        if rule.get(key):
            item[xml] = rule[key]
    if rule.get("ReferencedGroupInfo"):
        ref = rule["ReferencedGroupInfo"]
        item["referencedGroupInfo"] = {"groupId": ref.get("GroupId"), "userId": ref.get("UserId")}
    if rule.get("Description"):
        item["description"] = rule["Description"]
    return item


def _identity(arn: str, account_id: str, *, console: bool) -> dict:
    """A userIdentity block for an IAM user or an assumed-role session ARN."""
    principal = uuid.uuid4().hex[:17].upper()
    if ":assumed-role/" not in arn:
        return {
            "type": "IAMUser",
            "principalId": f"AIDA{principal}",
            "arn": arn,
            "accountId": account_id,
            "userName": arn.rsplit("/", 1)[-1],
        }
    role, session = arn.split(":assumed-role/", 1)[1].split("/", 1)
    return {
        "type": "AssumedRole",
        "principalId": f"AROA{principal}:{session}",
        "arn": arn,
        "accountId": account_id,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROA{principal}",
                "arn": f"arn:aws:iam::{account_id}:role/{role}",
                "accountId": account_id,
                "userName": role,
            },
            "attributes": {
                "creationDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "mfaAuthenticated": "false",
            },
        },
        **({"sessionCredentialFromConsole": "true"} if console else {}),
    }


def authorize(
    ec2,
    *,
    group_id: str,
    permissions: list[dict],
    account_id: str,
    region: str,
    egress: bool = False,
    actor_arn: str | None = None,
    user_agent: str = "aws-cli/2.17.42 md/command#ec2.authorize-security-group-ingress",
    source_ip: str = "198.51.100.23",
) -> dict:
    """Authorize ``permissions`` (boto3 IpPermissions) on the group; return the record."""
    call = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    response = call(GroupId=group_id, IpPermissions=permissions)
    actor_arn = actor_arn or f"arn:aws:iam::{account_id}:user/alice"
    return {
        "eventVersion": "1.10",
        "userIdentity": _identity(actor_arn, account_id, console=user_agent == "AWS Internal"),
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": (EventName.AUTHORIZE_EGRESS if egress else EventName.AUTHORIZE_INGRESS).value,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": {
            "groupId": group_id,
            "ipPermissions": _items([_permission_to_record(p) for p in permissions]),
        },
        "responseElements": {
            "requestId": response["ResponseMetadata"].get("RequestId", str(uuid.uuid4())),
            "_return": True,
            "securityGroupRuleSet": _items(
                [
                    _rule_to_record(rule, account_id)
                    for rule in response.get("SecurityGroupRules", [])
                ]
            ),
        },
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }
