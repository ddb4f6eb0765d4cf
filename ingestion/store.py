"""Store parsed changes: one bulk insert per page that skips (tenant, eventID) already seen.

Every source (Lake, EventBridge, S3 trail) ends here, so a record that arrives twice — from
an overlapping poll window or from two sources — is stored once. New rows are announced
with ``sgportal.events.changes_ingested`` after the transaction commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from django.db import connection, models, transaction
from django.utils import timezone

from ingestion.models import SecurityGroupChange
from ingestion.parser import ParsedChange
from sgportal.events import changes_ingested
from sgportal.models import AwsAccount, Tenant

_FIELDS = [f for f in SecurityGroupChange._meta.concrete_fields if not f.primary_key]
_BATCH_ROWS = 500  # 500 rows x ~30 columns stays under every backend's parameter limit


@dataclass
class StoreResult:
    """What one page did: ids of the rows it created, and how many were already there."""

    new_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    unparseable: int = 0

    @property
    def new(self) -> int:
        return len(self.new_ids)


def own_role_arns(tenant: Tenant | int) -> list[str]:
    """The spoke (revert) role ARNs of the tenant's accounts: their calls are ours."""
    accounts = AwsAccount.objects.for_tenant(tenant).exclude(spoke_role_arn="")
    return list(accounts.values_list("spoke_role_arn", flat=True))


def store_changes(
    tenant: Tenant | int, changes: Sequence[ParsedChange], *, source: str
) -> StoreResult:
    """Insert the changes that are new for the tenant, in one transaction; skip the rest."""
    tenant_id = getattr(tenant, "pk", tenant)
    result = StoreResult()
    if not changes:
        return result
    unique: dict[str, ParsedChange] = {}
    for change in changes:
        unique.setdefault(change.event_id, change)
    accounts = dict(
        AwsAccount.objects.for_tenant(tenant_id)
        .filter(account_id__in={c.aws_account_id for c in unique.values() if c.aws_account_id})
        .values_list("account_id", "pk")
    )
    now = timezone.now()
    rows = [_row(change, tenant_id, source, accounts, now) for change in unique.values()]
    with transaction.atomic():
        for start in range(0, len(rows), _BATCH_ROWS):
            result.new_ids.extend(_insert_ignoring_conflicts(rows[start : start + _BATCH_ROWS]))
        if result.new_ids:
            transaction.on_commit(
                partial(
                    changes_ingested.send,
                    sender=SecurityGroupChange,
                    tenant_id=tenant_id,
                    change_ids=list(result.new_ids),
                )
            )
    result.duplicates = len(changes) - len(result.new_ids)
    result.unparseable = sum(1 for c in unique.values() if c.parse_error)
    return result


def _row(change: ParsedChange, tenant_id: int, source: str, accounts: dict[str, int], now) -> list:
    values = change.model_fields()
    values.update(
        tenant_id=tenant_id,
        source=source,
        account_id=accounts.get(change.aws_account_id),
        ingested_at=now,
        status_changed_at=None,
    )
    row = []
    for f in _FIELDS:
        value = values[f.attname]
        if isinstance(f, models.JSONField):
            if f.attname == "raw" and change.raw_text is not None:
                row.append(change.raw_text)
            else:
                row.append(json.dumps(value))
        else:
            row.append(f.get_db_prep_save(value, connection))
    return row


def _insert_ignoring_conflicts(rows: list[list]) -> list[int]:
    """INSERT ... ON CONFLICT (tenant, event_id) DO NOTHING RETURNING id (PostgreSQL, SQLite)."""
    qn = connection.ops.quote_name
    json_cast = "::jsonb" if connection.vendor == "postgresql" else ""
    placeholders = ", ".join(
        f"%s{json_cast}" if isinstance(f, models.JSONField) else "%s" for f in _FIELDS
    )
    values_sql = ", ".join([f"({placeholders})"] * len(rows))
    # Only identifiers from the model and %s placeholders: values travel as parameters.
    table = qn(SecurityGroupChange._meta.db_table)
    columns = ", ".join(qn(f.column) for f in _FIELDS)
    conflict = f"ON CONFLICT ({qn('tenant_id')}, {qn('event_id')}) DO NOTHING"
    sql = f"INSERT INTO {table} ({columns}) VALUES {values_sql} {conflict} RETURNING {qn('id')}"  # noqa: S608
    params = [value for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
