"""OCSF 1.5.0 objects (``?format=ocsf`` and the webhooks' ``ocsf`` member); docs/ocsf.md.

- a change is an **API Activity** (class 6003): the EC2 call CloudTrail recorded, with the
  security group as the resource and its rules as the resource's data;
- a decision and a revert's outcome are **Remediation Activity** (class 7001): what
  sgportal did about the change, ``command_uid`` naming the revert session
  (``sgportal-change-<id>``) as AWS records it.

Only what is known goes in (no empty strings); everything sgportal-specific without an
OCSF attribute is under ``unmapped.sgportal``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

from approvals.models import Decision, Verdict
from approvals.wording import group_of, rule_in_words, severity_of
from ingestion.models import REVOKE_EVENTS, ChangeStatus, EventName, SecurityGroupChange

OCSF_VERSION = "1.5.0"
PRODUCT = {"name": "sgportal", "vendor_name": "sgportal", "uid": "sgportal"}
AWS_ACCOUNT = 10  # account.type_id "AWS Account"

API_ACTIVITY = {"class_uid": 6003, "class_name": "API Activity", "category_uid": 6}
API_CATEGORY = "Application Activity"
API_ACTIVITIES = {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
EVENT_ACTIVITY = {
    EventName.AUTHORIZE_INGRESS: 1,
    EventName.AUTHORIZE_EGRESS: 1,
    EventName.CREATE_GROUP: 1,
    EventName.REVOKE_INGRESS: 4,
    EventName.REVOKE_EGRESS: 4,
    EventName.DELETE_GROUP: 4,
    EventName.MODIFY_RULES: 3,
}

REMEDIATION = {"class_uid": 7001, "class_name": "Remediation Activity", "category_uid": 7}
REMEDIATION_CATEGORY = "Remediation"
REMEDIATION_ACTIVITIES = {3: "Restore", 4: "Harden", 99: "Other"}
# Undoing a change that removed rules puts them back (Restore); undoing one that opened
# access takes it away again (Harden).
RESTORING_EVENTS = set(REVOKE_EVENTS)
REVERT_STATUS = {  # the change's status after a revert attempt -> OCSF status_id
    ChangeStatus.REVERTED: 1,
    ChangeStatus.AUTO_REVERTED: 1,
    ChangeStatus.REVERT_FAILED: 2,
}
OUTCOME_STATUS = {"reverted": 1, "auto_reverted": 1, "undone": 1, "dry_run": 99}

SEVERITY_NAMES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
USER_TYPES = {"IAMUser": 1, "Root": 2, "AWSService": 3}


def _ms(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _clean(data: dict) -> dict:
    """Drop members that are None, "" or empty containers (OCSF leaves unknowns out)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "data":
            value = _clean(value)
        if value in (None, "", {}, []):
            continue
        out[key] = value
    return out


def severity_id(change: SecurityGroupChange) -> int:
    """Informational for calls that need no decision, else wording.severity_of (1..4) + 1."""
    if change.status in (ChangeStatus.INFORMATIONAL, ChangeStatus.OURS):
        return 1
    return severity_of(change).level + 1


def _time(value: dt.datetime) -> dict:
    return {"time": _ms(value), "time_dt": _iso(value)}


def _cloud(change: SecurityGroupChange) -> dict:
    account_name = change.account.name if change.account_id and change.account else None
    return {
        "provider": "AWS",
        "region": change.region,
        "account": {"uid": change.aws_account_id, "name": account_name, "type_id": AWS_ACCOUNT},
    }


def _metadata(change: SecurityGroupChange, uid: str, profiles: list[str], **extra) -> dict:
    return {
        "version": OCSF_VERSION,
        "product": PRODUCT,
        "profiles": profiles,
        "uid": uid,
        "tenant_uid": str(change.tenant_id),
        **extra,
    }


def _source_endpoint(address: str) -> dict:
    """CloudTrail's sourceIPAddress is an address, or a service name (ec2.amazonaws.com)."""
    try:
        return {"ip": str(ipaddress.ip_address(address))}
    except ValueError:
        return {"name": address or "unknown"}


def change_to_ocsf(change: SecurityGroupChange, *, raw: bool = False) -> dict:
    """The change as an OCSF API Activity (6003)."""
    activity_id = EVENT_ACTIVITY.get(change.event_name, 99)
    sev = severity_id(change)
    arn = change.actor_arn or ""
    event = {
        **API_ACTIVITY,
        "category_name": API_CATEGORY,
        "activity_id": activity_id,
        "activity_name": API_ACTIVITIES[activity_id],
        "type_uid": 6003 * 100 + activity_id,
        "type_name": f"API Activity: {API_ACTIVITIES[activity_id]}",
        **_time(change.event_time),
        "severity_id": sev,
        "severity": SEVERITY_NAMES[sev],
        "status_id": 2 if change.error_code else 1,
        "status": "Failure" if change.error_code else "Success",
        "status_code": change.error_code,
        "status_detail": change.error_message,
        "message": f"{change.event_name} on {group_of(change)}",
        "actor": {
            "user": {
                "uid": arn,
                "name": arn.rsplit("/", 1)[-1] or arn,
                "type": change.actor_type,
                "type_id": USER_TYPES.get(change.actor_type, 99),
                "account": {"uid": change.actor_account_id, "type_id": AWS_ACCOUNT},
            },
            "session": {"issuer": change.session_issuer_arn},
        },
        "api": {
            "operation": change.event_name,
            "service": {"name": "ec2.amazonaws.com"},
            "request": {"uid": change.request_id} if change.request_id else None,
            "response": {"error": change.error_code, "error_message": change.error_message},
        },
        "src_endpoint": _source_endpoint(change.source_ip),
        "http_request": {"user_agent": change.user_agent},
        "cloud": _cloud(change),
        "resources": [
            {
                "uid": change.group_id,
                "name": change.group_name,
                "type": "AWS::EC2::SecurityGroup",
                "region": change.region,
                "data": {"vpc_id": change.vpc_id or None, "rules": change.rules or []},
            }
        ],
        "metadata": _metadata(
            change,
            change.event_id,
            ["cloud", "datetime"],
            original_time=_iso(change.event_time),
            logged_time=_ms(change.ingested_at),
            logged_time_dt=_iso(change.ingested_at) if change.ingested_at else None,
            log_provider=change.source,
            log_name="CloudTrail",
        ),
        "unmapped": {
            "sgportal": {
                "change_id": change.pk,
                "status": change.status,
                "source": change.source,
                "via_console": change.via_console,
            }
        },
    }
    if raw:
        import json

        event["raw_data"] = json.dumps(change.raw, separators=(",", ":"), default=str)
    return _clean(event)


def _remediation_activity(change: SecurityGroupChange) -> int:
    return 3 if change.event_name in RESTORING_EVENTS else 4


def _remediation(
    change: SecurityGroupChange,
    *,
    uid: str,
    when: dt.datetime,
    activity_id: int,
    activity_name: str,
    status_id: int,
    status: str,
    message: str,
    actor_name: str,
    detail: str = "",
    extra: dict,
) -> dict:
    sev = severity_id(change)
    rules = "; ".join(rule_in_words(rule) for rule in change.rules or [])
    return _clean(
        {
            **REMEDIATION,
            "category_name": REMEDIATION_CATEGORY,
            "activity_id": activity_id,
            "activity_name": activity_name,
            "type_uid": 7001 * 100 + activity_id,
            "type_name": f"Remediation Activity: {activity_name}",
            **_time(when),
            "severity_id": sev,
            "severity": SEVERITY_NAMES[sev],
            "status_id": status_id,
            "status": status,
            "status_detail": detail,
            "message": message,
            "command_uid": f"sgportal-change-{change.pk}",
            "remediation": {
                "desc": f"Undo {change.event_name} on {group_of(change)}"
                + (f" ({rules})" if rules else "")
            },
            "actor": {"user": {"name": actor_name}},
            "cloud": _cloud(change),
            "metadata": _metadata(
                change, uid, ["cloud", "datetime", "host"], correlation_uid=change.event_id
            ),
            "unmapped": {"sgportal": {"change_id": change.pk, "status": change.status, **extra}},
        }
    )


def decision_to_ocsf(decision: Decision, change: SecurityGroupChange | None = None) -> dict:
    """A decision as an OCSF Remediation Activity (7001): a deny (or an undo of a revert) is
    the remediation requested; an approve is activity Other, "Approve", nothing to undo."""
    change = change or decision.change
    if decision.verdict == Verdict.APPROVE:
        activity_id, activity_name = 99, "Approve"
    elif decision.verdict == Verdict.UNDO_REVERT:
        activity_id, activity_name = 3, "Restore"
    else:
        activity_id = _remediation_activity(change)
        activity_name = REMEDIATION_ACTIVITIES[activity_id]
    return _remediation(
        change,
        uid=f"decision-{decision.pk}",
        when=decision.decided_at,
        activity_id=activity_id,
        activity_name=activity_name,
        status_id=1,
        status="Success",
        message=f"{decision.get_verdict_display()} by {decision.actor_name} via {decision.via}",
        actor_name=decision.actor_name,
        detail=decision.reason,
        extra={
            "decision_id": decision.pk,
            "verdict": decision.verdict,
            "via": decision.via,
        },
    )


def revert_to_ocsf(
    change: SecurityGroupChange,
    *,
    attempt_id: int | None,
    outcome: str,
    detail: str = "",
    finished_at: dt.datetime | None = None,
) -> dict:
    """A revert attempt's outcome as an OCSF Remediation Activity (7001): Success when the
    rules are back as they were, Failure (with the reason) when not."""
    activity_id = 3 if outcome in ("undone", "undo_failed") else _remediation_activity(change)
    status_id = OUTCOME_STATUS.get(outcome, REVERT_STATUS.get(outcome, 2))
    status = {1: "Success", 2: "Failure", 99: "Other"}[status_id]
    when = finished_at or change.status_changed_at or change.event_time
    return _remediation(
        change,
        uid=f"revert-{attempt_id}" if attempt_id else f"revert-change-{change.pk}-{_ms(when)}",
        when=when,
        activity_id=activity_id,
        activity_name=REMEDIATION_ACTIVITIES[activity_id],
        status_id=status_id,
        status=status,
        message=f"Revert {outcome.replace('_', ' ')}",
        actor_name="sgportal",
        detail=detail,
        extra={"revert_attempt_id": attempt_id, "outcome": outcome},
    )


def update_to_ocsf(change: SecurityGroupChange) -> dict:
    """What the updates feed hands out for a change whose status moved: the revert's outcome
    once it has one, else its latest decision, else the change itself (API Activity)."""
    if change.status in REVERT_STATUS:
        return revert_to_ocsf(change, attempt_id=None, outcome=change.status)
    decisions = list(change.decisions.all())
    if decisions:
        return decision_to_ocsf(decisions[-1], change)
    return change_to_ocsf(change)
