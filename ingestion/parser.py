"""One parser from a full CloudTrail record to a SecurityGroupChange, for every source.

CloudTrail Lake (``eventJson``), EventBridge (``detail``) and the S3 trail (``Records[]``)
all hand a single record to :func:`parse_record` (or its JSON text to :func:`parse_text`).
The parser never raises: a record it cannot understand comes back with ``status`` =
``unparseable`` and ``parse_error`` set, so one bad record never stops a batch.

Shapes handled (see tests/fixtures/cloudtrail/README.md): EC2's XML-style lists
(``{"items": [...]}``, ``{}`` when empty), the legacy flat parameters, the
``ModifySecurityGroupRulesRequest`` envelope (one object or a list), revoke by
SecurityGroupRuleId (with ``revokedSecurityGroupRuleSet`` when present), every protocol,
ports as strings, IPv4/IPv6/prefix-list/group sources, and rule ids matched from
``responseElements.securityGroupRuleSet``.

Two things a record cannot say are left for the rule inventory to fill in:
a revoke by rule id without ``revokedSecurityGroupRuleSet`` gives rules with ``protocol=""``
(``extra["unresolved"]``), and a modify does not say ingress or egress (``direction=""``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from ingestion.models import (
    AUTHORIZE_EVENTS,
    GROUP_EVENTS,
    REVOKE_EVENTS,
    ChangeStatus,
    EventName,
)
from ingestion.rules import PORTED_PROTOCOLS, PROTOCOL_NAMES, Rule, traffic_key
from sgportal.text import UNSTORABLE, storable

MODIFY_RULES = EventName.MODIFY_RULES
CREATE_GROUP = EventName.CREATE_GROUP
DELETE_GROUP = EventName.DELETE_GROUP
# Event name -> (what happened to its rules, their direction).
RULE_EVENTS = {
    **{name: ("added", direction) for name, direction in AUTHORIZE_EVENTS.items()},
    **{name: ("removed", direction) for name, direction in REVOKE_EVENTS.items()},
}
INFORMATIONAL_EVENTS = GROUP_EVENTS

# Field sizes of SecurityGroupChange: values are cut to fit so a hostile record cannot
# make the bulk insert fail for the whole page.
_MAX = {
    "event_id": 64,
    "event_name": 64,
    "aws_account_id": 12,
    "region": 30,
    "actor_type": 40,
    "actor_arn": 600,
    "actor_account_id": 12,
    "session_issuer_arn": 600,
    "source_ip": 100,
    "user_agent": 1000,
    "group_id": 64,
    "group_name": 300,
    "vpc_id": 64,
    "error_code": 100,
    "request_id": 100,
    "invoked_by": 200,
}


@dataclass
class ParsedChange:
    """What one record says, with the names of SecurityGroupChange's fields."""

    event_id: str
    raw: Any
    event_name: str = ""
    event_time: datetime | None = None
    aws_account_id: str = ""
    region: str = ""
    request_id: str = ""
    actor_type: str = ""
    actor_arn: str = ""
    actor_account_id: str = ""
    session_issuer_arn: str = ""
    via_console: bool = False
    source_ip: str = ""
    user_agent: str = ""
    group_id: str = ""
    group_name: str = ""
    vpc_id: str = ""
    rules: list[Rule] = field(default_factory=list)
    error_code: str = ""
    error_message: str = ""
    parse_error: str = ""
    parse_warnings: str = ""
    invoked_by: str = ""
    via_spoke_role: bool = False
    status: str = ChangeStatus.PENDING
    # The record's JSON text when the source gave text (Lake): stored as is, not re-encoded.
    raw_text: str | None = None
    # Made with a spoke role in a session named like one of our reverts: what the store
    # checks against the revert attempts before calling it ours (see ``own_claim``).
    own_claim: dict | None = None

    def model_fields(self) -> dict[str, Any]:
        """Keyword arguments for SecurityGroupChange (without tenant, source, account)."""
        values = {name: getattr(self, name) for name in MODEL_FIELDS}
        values["rules"] = [rule.to_json() for rule in self.rules]
        return values


MODEL_FIELDS = tuple(
    name for name in ParsedChange.__dataclass_fields__ if name not in {"raw_text", "own_claim"}
)


class _Unparseable(Exception):
    """Internal: the record lacks something a change needs."""


# --- public API ------------------------------------------------------------------------


def parse_text(text: str | bytes, *, own_role_arns: Iterable[str] = ()) -> ParsedChange:
    """Parse one record given as JSON text (e.g. a Lake ``eventJson`` cell). Never raises."""
    try:
        record = _loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raw_text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return _unreadable("unparsed_text", storable(raw_text), f"not JSON: {exc}")
    # Without any \u escape the text has no NUL or lone surrogate (JSON text cannot hold
    # them raw): the common case skips the walk over the record.
    clean = isinstance(text, str) and "\\u" not in text
    change = _parse(record, own_role_arns, known_clean=clean)
    if clean and change.raw is record and not change.parse_error:
        change.raw_text = text
    return change


def parse_record(record: Any, *, own_role_arns: Iterable[str] = ()) -> ParsedChange:
    """Parse one CloudTrail record (a dict, or an EventBridge envelope). Never raises."""
    return _parse(record, own_role_arns, known_clean=False)


def _parse(record: Any, own_role_arns: Iterable[str], *, known_clean: bool) -> ParsedChange:
    try:
        envelope: dict | None = None
        if (
            isinstance(record, dict)
            and isinstance(record.get("detail"), dict)
            and "detail-type" in record
        ):  # an EventBridge envelope: the record is its detail, the envelope says the rest
            envelope = record
        raw = record if known_clean or not _has_bad(record) else _sanitized(record)
        if envelope is not None:
            envelope, detail = raw, raw["detail"]  # the sanitized ones
        else:
            detail = raw
        change = ParsedChange(event_id=_event_id(detail, envelope), raw=raw)
    except Exception as exc:  # noqa: BLE001 - too deep or too odd even to keep verbatim
        return _unreadable(
            "unparsed_repr", _safe_repr(record), f"cannot read record: {type(exc).__name__}"
        )
    warnings: list[str] = []
    try:
        _fill(change, detail, _role_keyset(tuple(own_role_arns)), warnings, envelope)
    except Exception as exc:  # noqa: BLE001 - never let one record stop a batch
        change.rules = []
        change.own_claim = None
        change.parse_error = _safe_message(exc)
        change.status = ChangeStatus.UNPARSEABLE
    if warnings:
        change.parse_warnings = storable("; ".join(dict.fromkeys(warnings)))[:2000]
    return change


# A run of 19+ digits may be an integer beyond 64 bits, which orjson turns into a float.
# (bytes.translate + a substring search finds one ~10x faster than a regular expression.)
_DIGITS_TO_ZERO = bytes(48 if 48 <= i <= 57 else 120 for i in range(256))
_LONG_RUN = b"0" * 19


def _loads(text: str | bytes) -> Any:
    """orjson for speed; the standard library wherever orjson would differ (big integers) or
    refuses (lone surrogates), so every source decodes a record the same way."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _LONG_RUN not in data.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<unrepresentable {type(value).__name__}>"
    return storable(text[:10000])


def _safe_message(exc: Exception) -> str:
    try:
        message = str(exc) if isinstance(exc, _Unparseable) else f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001
        message = type(exc).__name__
    return storable(message)[:1000]


# --- the record envelope ---------------------------------------------------------------

# Our revert sessions are named after the change (remediation.aws.session_name_for).
_OWN_SESSION = re.compile(r"sgportal-(change|undo)-([0-9]{1,18})")


def _fill(
    change: ParsedChange,
    record: Any,
    own_roles: frozenset[tuple[str, str]],
    warnings: list[str],
    envelope: dict | None = None,
) -> None:
    if not isinstance(record, dict):
        raise _Unparseable(f"a record is a JSON object, got {type(record).__name__}")
    if not isinstance(record.get("eventID"), str) or not record["eventID"]:
        if envelope is None or not change.event_id.startswith("eventbridge:"):
            raise _Unparseable("no eventID")
        warnings.append("no eventID in the record: the EventBridge event id stands in")
    change.event_name = _text(record.get("eventName"), "event_name")
    change.aws_account_id = _text(record.get("recipientAccountId"), "aws_account_id")
    change.region = _text(record.get("awsRegion"), "region")
    change.request_id = _text(record.get("requestID"), "request_id")
    change.source_ip = _text(record.get("sourceIPAddress"), "source_ip")
    change.user_agent = _text(record.get("userAgent"), "user_agent")
    change.error_code = _text(record.get("errorCode"), "error_code")
    change.error_message = _text(record.get("errorMessage"))[:4000]
    _fill_actor(change, record, own_roles)

    event_time = record.get("eventTime")
    if envelope is not None:
        _fill_from_envelope(change, envelope, warnings)
        if not event_time:
            event_time = envelope.get("time")
    change.event_time = _event_time(event_time)
    if not change.event_name:
        raise _Unparseable("no eventName")

    name = change.event_name
    changes_rules = name in RULE_EVENTS or name == MODIFY_RULES
    params, response = record.get("requestParameters"), record.get("responseElements")
    if changes_rules and not change.error_code:
        # What changed is read from these two: a shape that cannot be trusted is not guessed at.
        if not isinstance(params, dict):
            raise _Unparseable(f"requestParameters is {_kind(params)}, not an object")
        if response is not None and not isinstance(response, dict):
            raise _Unparseable(f"responseElements is {_kind(response)}, not an object")
    params, response = _obj(params), _obj(response)
    change.group_id = _text(params.get("groupId"), "group_id")
    change.group_name = _text(params.get("groupName"), "group_name")

    if name in RULE_EVENTS:
        action, direction = RULE_EVENTS[name]
        change.rules = _permission_change(params, response, action, direction, warnings)
        if not change.group_id:
            change.group_id = _first_group_id(response)
    elif name == MODIFY_RULES:
        group_id, change.rules = _modify(params, warnings)
        change.group_id = change.group_id or _text(group_id, "group_id")
    elif name == CREATE_GROUP:
        change.vpc_id = _text(params.get("vpcId"), "vpc_id")
        change.group_id = _text(response.get("groupId"), "group_id")
    elif name == DELETE_GROUP:
        change.group_id = change.group_id or _text(response.get("groupId"), "group_id")

    if changes_rules and not change.error_code:
        if not (change.group_id or change.group_name):
            raise _Unparseable(f"{name} names no security group")
        if not change.rules:
            dropped = f" ({'; '.join(warnings)})" if warnings else ""
            raise _Unparseable(f"{name} carries no rule that can be read{dropped}")
    change.status = _status(change)


def _fill_from_envelope(change: ParsedChange, envelope: dict, warnings: list[str]) -> None:
    """EventBridge says which account and region the event happened in (``account``,
    ``region``): they stand in for what the record lacks, and must agree with what it has."""
    account = _text(envelope.get("account"), "aws_account_id")
    region = _text(envelope.get("region"), "region")
    if account and not change.aws_account_id:
        change.aws_account_id = account
    elif account and account != change.aws_account_id:
        warnings.append(
            f"recipientAccountId {change.aws_account_id} differs from the EventBridge "
            f"account {account}"
        )
    if region and not change.region:
        change.region = region


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


# userIdentity keys as CloudTrail spells them, by their lower-case spelling: some pipelines
# (Panther, for one) lower-case them.
_IDENTITY_KEYS = {
    key.lower(): key
    for key in (
        "type",
        "arn",
        "accountId",
        "principalId",
        "invokedBy",
        "userName",
        "accessKeyId",
        "sessionContext",
        "sessionIssuer",
        "sourceIdentity",
        "attributes",
        "mfaAuthenticated",
        "creationDate",
    )
}


def _camel(mapping: dict) -> dict:
    """A lower-cased userIdentity with CloudTrail's spelling back (nested objects too)."""
    return {
        _IDENTITY_KEYS.get(key, key): _camel(value) if isinstance(value, dict) else value
        for key, value in mapping.items()
    }


def _fill_actor(change: ParsedChange, record: dict, own_roles: frozenset) -> None:
    identity = _obj(record.get("userIdentity"))
    if "accountid" in identity or "principalid" in identity:
        identity = _camel(identity)
    change.actor_type = _text(identity.get("type"), "actor_type")
    change.invoked_by = _text(identity.get("invokedBy"), "invoked_by")
    change.actor_arn = _text(
        identity.get("arn") or change.invoked_by or identity.get("principalId"),
        "actor_arn",
    )
    change.actor_account_id = _text(identity.get("accountId"), "actor_account_id")
    context = _obj(identity.get("sessionContext"))
    issuer = _obj(context.get("sessionIssuer"))
    change.session_issuer_arn = _text(issuer.get("arn"), "session_issuer_arn")
    console = record.get("sessionCredentialFromConsole")
    change.via_console = console is True or (isinstance(console, str) and console == "true")
    if not change.via_console:
        agent = change.user_agent
        # Console calls before sessionCredentialFromConsole existed: console.ec2... / signin.
        change.via_console = agent == "signin.amazonaws.com" or (
            agent.startswith("console.") and agent.endswith(".amazonaws.com")
        )
    if own_roles and (
        _role_key(change.session_issuer_arn) in own_roles
        or _role_key(change.actor_arn) in own_roles
    ):
        change.via_spoke_role = True
        session = change.actor_arn.rsplit("/", 1)[-1] if "assumed-role/" in change.actor_arn else ""
        match = _OWN_SESSION.fullmatch(session)
        if match:
            change.own_claim = {
                "kind": "undo" if match.group(1) == "undo" else "revert",
                "change_id": int(match.group(2)),
                "session_name": session,
                "source_identity": _text(context.get("sourceIdentity"))[:64],
            }


def _status(change: ParsedChange) -> str:
    if change.error_code:
        return ChangeStatus.INFORMATIONAL
    if change.via_spoke_role:
        # Made with sgportal's own revert role: reviewed unless the store proves it is one of
        # our reverts (``own_claim`` matched against the revert attempts).
        return ChangeStatus.PENDING
    if change.event_name in INFORMATIONAL_EVENTS:
        return ChangeStatus.INFORMATIONAL
    if change.event_name in RULE_EVENTS or change.event_name == MODIFY_RULES:
        return ChangeStatus.PENDING
    return ChangeStatus.INFORMATIONAL  # an event type that needs no decision


# --- Authorize / Revoke ---------------------------------------------------------------


def _permission_change(
    params: dict, response: dict, action: str, direction: str, warnings: list[str]
) -> list[Rule]:
    permissions = _items(params.get("ipPermissions"), "ipPermissions", warnings)
    if not permissions and (params.get("ipProtocol") is not None or params.get("cidrIp")):
        permissions = [_flat_permission(params)]
    if not permissions and params.get("sourceSecurityGroupName"):
        permissions = [_flat_permission(params)]
    rules = [
        rule
        for permission in permissions
        for rule in _permission_rules(
            permission, action=action, direction=direction, warnings=warnings
        )
    ]

    if action == "added":
        created = _items(response.get("securityGroupRuleSet"), "securityGroupRuleSet", warnings)
        return _match_rule_ids(rules, created, action=action, direction=direction, warn=warnings)

    requested_ids = params.get("securityGroupRuleIds") or params.get("securityGroupRuleId")
    revoked_ids = []
    for item in _items(requested_ids, "securityGroupRuleIds", warnings):
        rule_id = _text(item.get("securityGroupRuleId") if isinstance(item, dict) else item)
        if rule_id:
            revoked_ids.append(rule_id)
        else:
            warnings.append("dropped a securityGroupRuleIds item without a rule id")
    # AWS lists what it revoked (since 2024): carry ids over to the requested rules, and
    # take the full definition of rules revoked by id.
    rules = _match_rule_ids(
        rules,
        _items(
            response.get("revokedSecurityGroupRuleSet"), "revokedSecurityGroupRuleSet", warnings
        ),
        action=action,
        direction=direction,
        warn=warnings,
    )
    known = {rule.rule_id for rule in rules}
    for rule_id in revoked_ids:
        if rule_id not in known:
            known.add(rule_id)
            rules.append(
                Rule(
                    action=action,
                    direction=direction,
                    protocol="",
                    rule_id=rule_id,
                    extra={"unresolved": "revoked by rule id; details from the rule inventory"},
                )
            )
    unknown = _items(response.get("unknownIpPermissionSet"))
    if unknown:
        missing = {
            traffic_key(rule)
            for permission in unknown
            for rule in _permission_rules(permission, action=action, direction=direction)
        }
        rules = [
            _with_extra(rule, not_found=True) if traffic_key(rule) in missing else rule
            for rule in rules
        ]
    return rules


def _flat_permission(params: dict) -> dict:
    permission: dict[str, Any] = {
        "ipProtocol": params.get("ipProtocol", "-1"),
        "fromPort": params.get("fromPort"),
        "toPort": params.get("toPort"),
    }
    if params.get("cidrIp"):
        permission["ipRanges"] = {"items": [{"cidrIp": params["cidrIp"]}]}
    if params.get("sourceSecurityGroupName") or params.get("sourceSecurityGroupId"):
        permission["groups"] = {
            "items": [
                {
                    "groupId": params.get("sourceSecurityGroupId"),
                    "groupName": params.get("sourceSecurityGroupName"),
                    "userId": params.get("sourceSecurityGroupOwnerId"),
                }
            ]
        }
    return permission


def _permission_rules(
    permission: Any, *, action: str, direction: str, warnings: list[str] | None = None
) -> list[Rule]:
    """The rules of one IpPermission (one per source); anything unreadable is dropped and,
    when ``warnings`` is given, said there."""
    drop = warnings.append if warnings is not None else (lambda _message: None)
    if not isinstance(permission, dict) or not permission:
        drop("dropped an ipPermissions item that is not a permission")
        return []
    if permission.get("ipProtocol") is None:
        drop("dropped a permission without ipProtocol")
        return []
    protocol = _protocol(permission.get("ipProtocol"))
    from_port, to_port = _ports(protocol, permission.get("fromPort"), permission.get("toPort"))
    base = {
        "action": action,
        "direction": direction,
        "protocol": protocol,
        "from_port": from_port,
        "to_port": to_port,
    }
    rules: list[Rule] = []
    dropped = 0
    for item in _items(permission.get("ipRanges")):
        if isinstance(item, dict) and _text(item.get("cidrIp")):
            rules.append(Rule(**base, cidr_ipv4=_text(item["cidrIp"]), description=_desc(item)))
        else:
            dropped += 1
    for item in _items(permission.get("ipv6Ranges")):
        if isinstance(item, dict) and _text(item.get("cidrIpv6")):
            rules.append(Rule(**base, cidr_ipv6=_text(item["cidrIpv6"]), description=_desc(item)))
        else:
            dropped += 1
    for item in _items(permission.get("prefixListIds")):
        if isinstance(item, dict) and _text(item.get("prefixListId")):
            rules.append(
                Rule(**base, prefix_list_id=_text(item["prefixListId"]), description=_desc(item))
            )
        else:
            dropped += 1
    for item in _items(permission.get("groups")):
        group_id = _text(item.get("groupId")) if isinstance(item, dict) else ""
        group_name = _text(item.get("groupName")) if isinstance(item, dict) else ""
        if not (group_id or group_name):
            dropped += 1
            continue
        rules.append(
            Rule(
                **base,
                referenced_group_id=group_id or None,
                referenced_account_id=_text(item.get("userId")) or None,
                description=_desc(item),
                extra={"referenced_group_name": group_name} if group_name else {},
            )
        )
    if dropped:
        drop(f"dropped {dropped} source(s) without an address, prefix list or group")
    if not rules and not dropped:
        drop("dropped a permission without any source")
    return rules


def _response_fields(item: dict, direction: str) -> dict[str, Any]:
    """A rule as EC2 reports it in securityGroupRuleSet / revokedSecurityGroupRuleSet."""
    protocol = _protocol(item.get("ipProtocol"))
    from_port, to_port = _ports(protocol, item.get("fromPort"), item.get("toPort"))
    if "isEgress" in item:
        egress = item["isEgress"]
        direction = "egress" if egress is True or egress == "true" else "ingress"
    ref = _obj(item.get("referencedGroupInfo"))
    return {
        "direction": direction,
        "protocol": protocol,
        "from_port": from_port,
        "to_port": to_port,
        "cidr_ipv4": _text(item.get("cidrIpv4")) or None,
        "cidr_ipv6": _text(item.get("cidrIpv6")) or None,
        "prefix_list_id": _text(item.get("prefixListId")) or None,
        "referenced_group_id": _text(ref.get("groupId")) or None,
        "referenced_account_id": _text(ref.get("userId")) or None,
        "description": _desc(item),
        "rule_id": _text(item.get("securityGroupRuleId")) or None,
    }


_SOURCE_FIELDS = ("cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_group_id")


def _match_rule_ids(
    rules: list[Rule], response_items: list, *, action: str, direction: str, warn: list[str]
) -> list[Rule]:
    """Give each requested rule the SecurityGroupRuleId AWS reported for it.

    A response rule that matches no requested rule (e.g. the request was in a shape we do
    not know) is added as is: the response is what AWS actually did. A response item that
    does not say what it allows (no protocol, no source) is dropped, never guessed at.
    """
    if not response_items:
        return list(rules)
    result = list(rules)
    keys = [traffic_key(rule) for rule in result]
    for item in response_items:
        if not isinstance(item, dict) or item.get("ipProtocol") is None:
            warn.append("dropped a response rule without a protocol")
            continue
        reported = _response_fields(item, direction)
        if not any(reported[name] for name in _SOURCE_FIELDS):
            warn.append("dropped a response rule without a source")
            continue
        key = traffic_key(reported)
        for index, rule in enumerate(result):
            if rule.rule_id is None and keys[index] == key:
                result[index] = replace(
                    rule,
                    rule_id=reported["rule_id"],
                    direction=reported["direction"],
                    referenced_account_id=rule.referenced_account_id
                    or reported["referenced_account_id"],
                    description=rule.description or reported["description"],
                )
                break
        else:
            result.append(Rule(action=action, **reported))
            keys.append(key)
    return result


def _first_group_id(response: dict) -> str:
    for item in _items(response.get("securityGroupRuleSet")):
        if isinstance(item, dict) and _text(item.get("groupId")):
            return _text(item["groupId"], "group_id")
    return ""


# --- ModifySecurityGroupRules ---------------------------------------------------------


def _modify(params: dict, warnings: list[str]) -> tuple[Any, list[Rule]]:
    request = _obj(params.get("ModifySecurityGroupRulesRequest")) or params
    group_id = _pick(request, "GroupId", "groupId")
    entries = _pick(request, "SecurityGroupRule", "SecurityGroupRules", "securityGroupRule")
    if isinstance(entries, dict) and "items" in entries:
        entries = _items(entries, "SecurityGroupRule", warnings)
    elif not isinstance(entries, list):
        entries = [entries]
    rules = []
    for entry in entries:
        if not isinstance(entry, dict):
            warnings.append("dropped a SecurityGroupRule entry that is not an object")
            continue
        rule_id = _text(_pick(entry, "SecurityGroupRuleId", "securityGroupRuleId"))
        new = _obj(_pick(entry, "SecurityGroupRule", "securityGroupRule"))
        if not rule_id or _pick(new, "IpProtocol", "ipProtocol") is None:
            warnings.append("dropped a SecurityGroupRule entry without a rule id or protocol")
            continue
        protocol = _protocol(_pick(new, "IpProtocol", "ipProtocol"))
        from_port, to_port = _ports(
            protocol, _pick(new, "FromPort", "fromPort"), _pick(new, "ToPort", "toPort")
        )
        tag = entry.get("tag")
        rule = Rule(
            action="modified",
            direction="",  # type: ignore[arg-type]  # the request does not say
            protocol=protocol,
            from_port=from_port,
            to_port=to_port,
            cidr_ipv4=_text(_pick(new, "CidrIpv4", "cidrIpv4")) or None,
            cidr_ipv6=_text(_pick(new, "CidrIpv6", "cidrIpv6")) or None,
            prefix_list_id=_text(_pick(new, "PrefixListId", "prefixListId")) or None,
            referenced_group_id=_text(_pick(new, "ReferencedGroupId", "referencedGroupId")) or None,
            description=_text(_pick(new, "Description", "description")) or None,
            rule_id=rule_id[:64],
            extra={"tag": tag} if isinstance(tag, int | str) and not isinstance(tag, bool) else {},
        )
        if not any(getattr(rule, name) for name in _SOURCE_FIELDS):
            warnings.append(f"dropped the modify of {rule.rule_id}: its new rule has no source")
            continue
        rules.append(rule)
    return group_id, rules


# --- small coercions -------------------------------------------------------------------


def _items(value: Any, name: str = "", warnings: list[str] | None = None) -> list:
    """EC2's XML lists: ``{"items": [...]}``, ``{}`` when empty, sometimes a bare list.
    Empty objects in a list are no items; what is not a list at all is dropped (and said
    in ``warnings`` when given)."""
    if isinstance(value, dict):
        value = value.get("items", [])
        if isinstance(value, dict):  # a single item collapsed to an object
            return [value] if value else []
    if isinstance(value, list):
        if all(value):  # the common case: no empty item
            return value
        items = [item for item in value if item]
        if warnings is not None:
            warnings.append(f"dropped {len(value) - len(items)} empty {name} item(s)")
        return items
    if value is not None and warnings is not None:
        warnings.append(f"dropped {name}: {_kind(value)}, not a list")
    return []


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _pick(mapping: dict, *keys: str) -> Any:
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def _text(value: Any, field_name: str | None = None) -> str:
    if type(value) is str:  # the common case, kept fast (records are sanitized up front)
        return value if field_name is None else value[: _MAX[field_name]]
    if value is None or isinstance(value, dict | list | bool):
        return ""
    text = storable(str(value))
    if field_name is not None:
        text = text[: _MAX[field_name]]
    return text


def _desc(item: dict) -> str | None:
    return _text(item.get("description"))[:255] or None


def _protocol(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "-1"
    text = _text(value).strip().lower()[:20]
    if text in {"", "-1"}:
        return "-1"
    return PROTOCOL_NAMES.get(text, text)


def _port(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if -1 <= number <= 65535 else None


def _ports(protocol: str, from_port: Any, to_port: Any) -> tuple[int | None, int | None]:
    if protocol not in PORTED_PROTOCOLS:
        # All traffic (-1) or a protocol without ports (e.g. 50/ESP): EC2 ignores any
        # ports given and reports -1/-1, which says nothing more.
        return None, None
    return _port(from_port), _port(to_port)


def _event_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise _Unparseable("no eventTime")
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise _Unparseable(f"eventTime {value[:40]!r} is not a timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _event_id(record: Any, envelope: dict | None = None) -> str:
    if isinstance(record, dict):
        event_id = record.get("eventID")
        if isinstance(event_id, str) and 0 < len(event_id) <= _MAX["event_id"]:
            return event_id
        envelope_id = envelope.get("id") if envelope else None
        if not event_id and isinstance(envelope_id, str) and 0 < len(envelope_id) <= 48:
            return f"eventbridge:{envelope_id}"
    return _synthetic_id(json.dumps(envelope or record, sort_keys=True, default=repr))


def _unreadable(key: str, text: str, error: str) -> ParsedChange:
    """A record that could not even be read: kept as text under ``key``, with an id made
    from that text."""
    return ParsedChange(
        event_id=_synthetic_id(text),
        raw={key: text},
        parse_error=error[:1000],
        status=ChangeStatus.UNPARSEABLE,
    )


def _synthetic_id(text: str) -> str:
    """A stable id for a record without a usable eventID, so re-reads still dedup."""
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
    return f"sha256:{digest[:56]}"


def _has_bad(value: Any, depth: int = 0) -> bool:
    if depth > 100:
        raise ValueError("nested too deeply")
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_bad(str(k), depth + 1) or _has_bad(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_bad(v, depth + 1) for v in value)
    return False


def _sanitized(value: Any) -> Any:
    """The value with NULs removed and lone surrogates replaced by U+FFFD."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): _sanitized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitized(v) for v in value]
    return value


def _with_extra(rule: Rule, **extra: Any) -> Rule:
    return replace(rule, extra={**rule.extra, **extra})


# --- our own role ------------------------------------------------------------------------


def _role_key(arn: str) -> tuple[str, str] | None:
    """(account, role name) for an IAM role ARN or an STS assumed-role ARN."""
    if not arn or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return None
    account, resource = parts[4], parts[5]
    if resource.startswith("role/"):
        return account, resource.rsplit("/", 1)[-1]
    if resource.startswith("assumed-role/"):
        pieces = resource.split("/")
        return (account, pieces[1]) if len(pieces) >= 3 else None
    return None


@lru_cache(maxsize=256)
def _role_keyset(arns: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """(account, role name) of each own role, computed once per tenant's list."""
    return frozenset(key for key in map(_role_key, arns) if key)
