"""Talking to EC2: describe a group, run a plan's calls, classify what AWS answered.

Errors are sorted into three kinds: *expected* answers a retry or redelivery produces
(``...NotFound`` on a revoke, ``InvalidPermission.Duplicate`` on an authorize,
``DryRunOperation`` in dry run), recorded and then judged by the describe that follows;
*transient* ones (throttling, 5xx) raised as ``TransientAwsError`` for the task to retry
with backoff; everything else *permanent* (``PermanentAwsError``), never retried.
"""

from __future__ import annotations

import logging

from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError

from ingestion.rules import Rule
from remediation import aws
from remediation.errors import (
    DENIED_CODES,
    TRANSIENT_CODES,
    PermanentAwsError,
    TransientAwsError,
    from_botocore,
)

logger = logging.getLogger(__name__)

NOT_FOUND_CODES = {
    "InvalidPermission.NotFound",
    "InvalidSecurityGroupRuleId.NotFound",
    "InvalidGroup.NotFound",
}
DUPLICATE_CODES = {"InvalidPermission.Duplicate"}


def _error(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return error.get("Code", "Unknown"), error.get("Message", str(exc))


def classify(exc: ClientError, operation: str, role_arn: str, account_id: str) -> Exception:
    code, message = _error(exc)
    if code in TRANSIENT_CODES:
        if code in ("ExpiredToken", "RequestExpired"):
            aws.clear_cache()
        return TransientAwsError(code, message)
    if code in DENIED_CODES:
        return PermanentAwsError(
            f"The spoke role {role_arn} in account {account_id} may not call {operation} "
            f"({code}: {message}). Allow ec2:{operation} (and ec2:DescribeSecurityGroupRules) "
            "in that role's policy.",
            code,
        )
    return PermanentAwsError(f"{operation} failed: {code}: {message}", code)


def describe_group(ec2: BaseClient, group_id: str, *, role_arn: str, account_id: str) -> list[dict]:
    """The group's rules now, as a snapshot (a missing group has none)."""
    try:
        items: list[dict] = []
        paginator = ec2.get_paginator("describe_security_group_rules")
        filters = [{"Name": "group-id", "Values": [group_id]}]
        for page in paginator.paginate(Filters=filters):
            items.extend(page.get("SecurityGroupRules", []))
    except ClientError as exc:
        if _error(exc)[0] in NOT_FOUND_CODES:
            return []
        raise classify(exc, "DescribeSecurityGroupRules", role_arn, account_id) from exc
    except BotoCoreError as exc:
        raise from_botocore(exc) from exc
    return snapshot_items(items)


def snapshot_items(describe_items: list[dict]) -> list[dict]:
    """A JSON snapshot (rule id + definition) from DescribeSecurityGroupRules items."""
    return sorted(
        (
            {
                "rule_id": item["SecurityGroupRuleId"],
                "definition": Rule.from_describe(item).definition(),
            }
            for item in describe_items
        ),
        key=lambda entry: entry["rule_id"],
    )


def group_exists(ec2: BaseClient, group_id: str, *, role_arn: str, account_id: str) -> bool:
    """Whether the group exists in this account (a describe of its rules cannot tell an
    empty group from a missing one)."""
    try:
        ec2.describe_security_groups(GroupIds=[group_id])
    except ClientError as exc:
        if _error(exc)[0] in NOT_FOUND_CODES:
            return False
        raise classify(exc, "DescribeSecurityGroups", role_arn, account_id) from exc
    except BotoCoreError as exc:
        raise from_botocore(exc) from exc
    return True


def run_calls(
    ec2: BaseClient, plan: dict, *, dry_run: bool, role_arn: str, account_id: str
) -> list[dict]:
    """Make the plan's calls in order; returns one result dict per call."""
    results = []
    for planned in plan["calls"]:
        params = dict(planned["params"])
        if dry_run:
            params["DryRun"] = True
        entry = {"operation": planned["operation"], "summary": planned["summary"]}
        try:
            response = getattr(ec2, planned["method"])(**params)
        except ClientError as exc:
            code, message = _error(exc)
            entry["request_id"] = exc.response.get("ResponseMetadata", {}).get("RequestId", "")
            if code == "DryRunOperation":
                entry["result"] = "dry_run_ok"
            elif code in NOT_FOUND_CODES:
                entry["result"] = f"not found ({code}); to be confirmed by describe"
            elif code in DUPLICATE_CODES:
                entry["result"] = f"already there ({code}); to be confirmed by describe"
            else:
                raise classify(exc, planned["operation"], role_arn, account_id) from exc
            entry["code"] = code
            results.append(entry)
            continue
        except BotoCoreError as exc:
            raise from_botocore(exc) from exc
        entry["result"] = "ok"
        entry["request_id"] = response.get("ResponseMetadata", {}).get("RequestId", "")
        results.append(entry)
    return results
