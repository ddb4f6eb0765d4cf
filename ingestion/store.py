"""Store parsed changes: one bulk insert per page that skips (tenant, eventID) already seen.

Every source (Lake, EventBridge, S3 trail) ends here, so a record that arrives twice — from
an overlapping poll window or from two sources — is stored once; a record a *second* source
delivers adds that source to the change's ``sources`` (one UPDATE, only for those rows). New
rows are announced with ``sgportal.events.changes_ingested`` after the transaction commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import orjson
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from ingestion.models import SOURCE_BITS, ChangeStatus, SecurityGroupChange
from ingestion.parser import ParsedChange
from sgportal import db
from sgportal.events import announce, changes_ingested
from sgportal.models import AwsAccount, Tenant

# Columns the database fills itself (the API's feed positions) are left out.
_FIELDS = [
    f
    for f in SecurityGroupChange._meta.concrete_fields
    if not f.primary_key and not f.has_db_default() and f.name != "status_txid"
]
_BATCH_ROWS = 500  # 500 rows x ~30 columns stays under SQLite's parameter limit
_STATUS = next(i for i, f in enumerate(_FIELDS) if f.name == "status")
_EVENT_ID = next(i for i, f in enumerate(_FIELDS) if f.name == "event_id")
_SEVERITY = next(i for i, f in enumerate(_FIELDS) if f.name == "severity")

# A spoke-role call is ours only when it matches a revert attempt sgportal made. Remediation
# knows its attempts and registers the check at start-up (ingestion never imports it): a
# check takes the tenant id and the claims (see ``_claim``) and answers one bool per claim.
OwnCallCheck = Callable[[int, list[dict]], list[bool]]
own_call_checks: list[OwnCallCheck] = []


def register_own_call_check(check: OwnCallCheck) -> None:
    """Add a check that recognises sgportal's own reverts (idempotent)."""
    if check not in own_call_checks:
        own_call_checks.append(check)


# How severe a change is, rated when it is stored (issue 13): approvals owns the rating and
# registers it at start-up (ingestion never imports approvals). A rater takes the change's
# rules (as JSON dicts), whether it was made with the spoke role and its status, and gives
# the level (0 = not rated).
SeverityRater = Callable[[list[dict], bool, str], int]
severity_raters: list[SeverityRater] = []


def register_severity_rater(rater: SeverityRater) -> None:
    """Set the function that rates a change's severity at ingest (idempotent)."""
    if rater not in severity_raters:
        severity_raters.append(rater)


def _rate(rules: list[dict], via_spoke_role: bool, status: str) -> int:
    return max((rate(rules, via_spoke_role, status) for rate in severity_raters), default=0)


@dataclass
class StoreResult:
    """What one page did: ids of the rows it created, and how many were already there."""

    new_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    unparseable: int = 0
    also_delivered: int = 0  # existing changes this source delivered for the first time

    @property
    def new(self) -> int:
        return len(self.new_ids)


def own_role_arns(tenant: Tenant | int) -> list[str]:
    """The spoke (revert) role ARNs of the tenant's accounts: their calls are ours when they
    match a revert attempt, and reviewed at the highest severity otherwise."""
    accounts = AwsAccount.objects.for_tenant(tenant).exclude(spoke_role_arn="")
    return list(accounts.values_list("spoke_role_arn", flat=True))


@dataclass
class PreparedPage:
    """A page of changes as database rows, built without touching the database (so it can
    be built in the read-ahead thread while the previous page is being written)."""

    tenant_id: int
    source: str
    rows: list[list]
    received: int  # changes handed in, duplicates within the page included
    unparseable: int
    # (row index, claim) of spoke-role calls made in a session named like one of our reverts
    claims: list[tuple[int, dict]] = field(default_factory=list)


def account_pks(tenant: Tenant | int) -> dict[str, int]:
    """The tenant's AWS accounts: 12-digit id -> AwsAccount pk (to link each change)."""
    accounts = AwsAccount.objects.for_tenant(tenant)
    return dict(accounts.values_list("account_id", "pk"))


def prepare_page(
    tenant_id: int, changes: Sequence[ParsedChange], *, source: str, accounts: dict[str, int]
) -> PreparedPage:
    """Rows for the changes, one per event id (the first one seen wins)."""
    unique: dict[str, ParsedChange] = {}
    for change in changes:
        unique.setdefault(change.event_id, change)
    now = timezone.now()
    return PreparedPage(
        tenant_id=tenant_id,
        source=source,
        rows=[_row(change, tenant_id, source, accounts, now) for change in unique.values()],
        received=len(changes),
        unparseable=sum(1 for c in unique.values() if c.parse_error),
        claims=[
            (index, _claim(change))
            for index, change in enumerate(unique.values())
            if change.own_claim and change.status == ChangeStatus.PENDING
        ],
    )


def _claim(change: ParsedChange) -> dict:
    """What a check compares with its revert attempts: the session's claim and the call."""
    return {
        **(change.own_claim or {}),
        "event_name": change.event_name,
        "aws_account_id": change.aws_account_id,
        "region": change.region,
        "group_id": change.group_id,
        "rules": [rule.to_json() for rule in change.rules],
    }


def _mark_own_calls(page: PreparedPage) -> None:
    """Rows whose claim a registered check confirms become ``ours``; the rest stay pending
    (reviewed, flagged as made with the spoke role)."""
    if not page.claims:
        return
    claims = [claim for _index, claim in page.claims]
    confirmed = [False] * len(claims)
    for check in own_call_checks:
        answers = check(page.tenant_id, claims)
        confirmed = [a or bool(b) for a, b in zip(confirmed, answers, strict=True)]
    claims_by_index = {index: claim["rules"] for index, claim in page.claims}
    for (index, _), ours in zip(page.claims, confirmed, strict=True):
        if ours:
            page.rows[index][_STATUS] = ChangeStatus.OURS
            page.rows[index][_SEVERITY] = _rate(claims_by_index[index], True, ChangeStatus.OURS)


def store_prepared(page: PreparedPage) -> StoreResult:
    """Insert the page's rows that are new for the tenant, in one transaction."""
    result = StoreResult(unparseable=page.unparseable)
    if not page.rows:
        return result
    batch = len(page.rows) if db.is_postgresql() else _BATCH_ROWS
    with transaction.atomic():
        _mark_own_calls(page)
        stored: set[str] = set()
        for start in range(0, len(page.rows), batch):
            for pk, event_id in _insert_ignoring_conflicts(page.rows[start : start + batch]):
                result.new_ids.append(pk)
                stored.add(event_id)
        if len(stored) < len(page.rows):
            seen = [row[_EVENT_ID] for row in page.rows if row[_EVENT_ID] not in stored]
            result.also_delivered = _add_source(page.tenant_id, seen, page.source)
        if result.new_ids:
            transaction.on_commit(partial(_announce, page.tenant_id, list(result.new_ids)))
    result.duplicates = page.received - len(result.new_ids)
    return result


def store_changes(
    tenant: Tenant | int, changes: Sequence[ParsedChange], *, source: str
) -> StoreResult:
    """Insert the changes that are new for the tenant, in one transaction; skip the rest."""
    tenant_id = getattr(tenant, "pk", tenant)
    if not changes:
        return StoreResult()
    page = prepare_page(tenant_id, changes, source=source, accounts=account_pks(tenant_id))
    return store_prepared(page)


def _add_source(tenant_id: int, event_ids: list[str], source: str) -> int:
    """Record ``source`` on changes it delivered after another source; returns how many."""
    bit = SOURCE_BITS[source]
    return (
        SecurityGroupChange.objects.filter(tenant_id=tenant_id, event_id__in=event_ids)
        .alias(known=F("sources").bitand(bit))
        .filter(known=0)
        .update(sources=F("sources").bitor(bit))
    )


def _announce(tenant_id: int, change_ids: list[int]) -> None:
    """Send changes_ingested; a failing receiver is logged and never stops the ingestion
    (or the other receivers): the rows are stored and will not be announced again."""
    announce(changes_ingested, SecurityGroupChange, tenant_id=tenant_id, change_ids=change_ids)


def _row(change: ParsedChange, tenant_id: int, source: str, accounts: dict[str, int], now) -> list:
    """Column values in _FIELDS order; JSON columns as JSON text."""
    values = change.model_fields()
    values.update(
        tenant_id=tenant_id,
        source=source,
        sources=SOURCE_BITS[source],
        account_id=accounts.get(change.aws_account_id),
        ingested_at=now,
        status_changed_at=None,
    )
    values["severity"] = _rate(values["rules"], change.via_spoke_role, change.status)
    values["raw"] = change.raw_text if change.raw_text is not None else _dumps(values["raw"])
    values["rules"] = _dumps(values["rules"])
    return [values[f.attname] for f in _FIELDS]


def _dumps(value) -> str:
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits
        return json.dumps(value)


def _insert_ignoring_conflicts(rows: list[list]) -> list[tuple[int, str]]:
    """INSERT ... ON CONFLICT (tenant, event_id) DO NOTHING RETURNING id, event_id: the new
    rows."""
    if db.is_postgresql():
        return _insert_postgresql(rows)
    return _insert_values(rows)


def _sql(select: str) -> str:
    qn = connection.ops.quote_name
    table = qn(SecurityGroupChange._meta.db_table)
    columns = ", ".join(qn(f.column) for f in _FIELDS)
    conflict = f"ON CONFLICT ({qn('tenant_id')}, {qn('event_id')}) DO NOTHING"
    # Only identifiers from the model and %s placeholders: values travel as parameters.
    returning = f"{qn('id')}, {qn('event_id')}"
    return f"INSERT INTO {table} ({columns}) {select} {conflict} RETURNING {returning}"


def _insert_postgresql(rows: list[list]) -> list[tuple[int, str]]:
    """One binary array parameter per column (unnest): a short, constant statement whatever
    the page size, bound server-side, so no value is quoted into the SQL text."""
    import psycopg

    arrays = ", ".join(f"%b::{f.db_type(connection)}[]" for f in _FIELDS)
    sql = _sql(f"SELECT * FROM unnest({arrays})")  # noqa: S608
    columns = [list(column) for column in zip(*rows, strict=True)]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, columns)
        return [(row[0], row[1]) for row in cursor.fetchall()]


def _insert_values(rows: list[list]) -> list[tuple[int, str]]:
    """Multi-row VALUES for the other backends (SQLite in development)."""
    placeholders = ", ".join(["%s"] * len(_FIELDS))
    sql = _sql("VALUES " + ", ".join([f"({placeholders})"] * len(rows)))
    params = [
        value if isinstance(f, models.JSONField) else f.get_db_prep_save(value, connection)
        for row in rows
        for f, value in zip(_FIELDS, row, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]
