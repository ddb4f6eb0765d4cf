"""Poll a tenant's CloudTrail Lake store into SecurityGroupChange rows (action functions).

A scheduled poll reads [watermark - overlap, now - safety lag) and moves the watermark to
the window's end only once every page was read and stored; a failed, cancelled or
timed-out query leaves it where it was, so the next tick reads the same window again.
The overlap catches events that reach Lake late; the (tenant, eventID) uniqueness makes
re-reading harmless. Every query is a PollRun row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ingestion.lake import InvalidLakeSetting, LakeClient, LakeError, ResultPage, lake_client_for
from ingestion.lake import build_query as build_lake_query
from ingestion.locks import tenant_poll_lock
from ingestion.models import LakeSource, PollKind, PollRun, PollStatus, Source
from ingestion.parser import parse_text
from ingestion.readahead import read_ahead
from ingestion.sources import record_delivery, record_source_error
from ingestion.store import (
    PreparedPage,
    StoreResult,
    account_pks,
    own_role_arns,
    prepare_page,
    store_prepared,
)
from sgportal.aws_roles import UnsafeRole
from sgportal.models import Tenant

logger = logging.getLogger(__name__)

_OUTCOME_STATUS = {
    "FINISHED": PollStatus.SUCCEEDED,
    "FAILED": PollStatus.FAILED,
    "CANCELLED": PollStatus.CANCELLED,
    "TIMED_OUT": PollStatus.TIMED_OUT,
}
# Errors that end a run as failed and leave the next tick to try again.
EXPECTED_ERRORS = (ClientError, BotoCoreError, LakeError, InvalidLakeSetting, UnsafeRole)

Progress = Callable[[ResultPage, StoreResult], None]
SKIPPED = "skipped"
GONE = "gone"


# After an outage, one tick reads at most this much; the next ticks catch up from there
# (a Lake query over days could run into its one-hour timeout and never finish).
MAX_SCHEDULED_WINDOW = timedelta(hours=6)


def scheduled_window(tenant: Tenant, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[watermark - overlap, now - safety lag), whole seconds (Lake's precision)."""
    now = now or timezone.now()
    end = (now - timedelta(seconds=settings.SGPORTAL_POLL_SAFETY_LAG_S)).replace(microsecond=0)
    watermark = LakeSource.objects.filter(tenant=tenant).values_list("watermark", flat=True).first()
    start = (watermark or end) - timedelta(seconds=settings.SGPORTAL_POLL_OVERLAP_S)
    return start, min(end, start + MAX_SCHEDULED_WINDOW)


def poll_tenant(
    tenant: Tenant, *, lake: LakeClient | None = None, now: datetime | None = None
) -> PollRun | None:
    """One scheduled poll: read the window, store it, then advance the watermark."""
    start, end = scheduled_window(tenant, now)
    if start >= end:
        return None  # nothing new to read (overlap 0 and polled up to now)
    run = poll_window(tenant, start, end, kind=PollKind.SCHEDULED, lake=lake)
    return run


def poll_tenant_locked(
    tenant_id: int, *, lake: LakeClient | None = None, now: datetime | None = None
) -> str:
    """poll_tenant under the tenant's Redis lock; "skipped" when another poll holds it."""
    tenant = Tenant.objects.filter(pk=tenant_id, active=True, lake_source__enabled=True).first()
    if tenant is None:
        return GONE
    with tenant_poll_lock(tenant.pk) as acquired:
        if not acquired:
            logger.info("Lake poll of %s skipped: another poll holds the lock", tenant.slug)
            return SKIPPED
        abandon_dead_runs(tenant)
        run = poll_tenant(tenant, lake=lake, now=now)
        return run.status if run else SKIPPED


def abandon_dead_runs(tenant: Tenant) -> int:
    """Mark scheduled runs still "running" as failed: the caller holds the tenant's lock, so
    no scheduled poll of it is alive; those runs died with their worker (e.g. killed at the
    hard time limit). Their window was never confirmed, so the watermark did not move."""
    return PollRun.objects.filter(
        tenant=tenant, kind=PollKind.SCHEDULED, status=PollStatus.RUNNING
    ).update(
        status=PollStatus.FAILED,
        error="abandoned: the worker stopped before the run finished",
        finished_at=timezone.now(),
    )


def backfill_windows(
    since: datetime, until: datetime, chunk: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    """[since, until) cut into windows of at most ``chunk`` (each one Lake query)."""
    start = since
    while start < until:
        end = min(until, start + chunk)
        yield start, end
        start = end


def poll_window(
    tenant: Tenant,
    start: datetime,
    end: datetime,
    *,
    kind: str = PollKind.BACKFILL,
    lake: LakeClient | None = None,
    progress: Progress | None = None,
) -> PollRun:
    """Query [start, end) and store every page. Scheduled runs advance the watermark."""
    run = PollRun.objects.create(
        tenant=tenant, kind=kind, window_start=start, window_end=end, started_at=timezone.now()
    )
    try:
        statement = build_lake_query(tenant.lake_source.event_data_store, start, end)
        lake = lake or lake_client_for(tenant, max_wait_s=settings.SGPORTAL_LAKE_MAX_WAIT_S)
        run.query_id = lake.start(statement)
        PollRun.objects.filter(pk=run.pk).update(query_id=run.query_id)
        outcome = lake.wait(run.query_id)
        run.bytes_scanned = outcome.bytes_scanned
        if outcome.status != "FINISHED":
            error = outcome.error or f"query ended {outcome.status}"
            return _finish(run, _OUTCOME_STATUS[outcome.status], error=error)
        # Parsing and row building happen in the read-ahead thread; this one only writes.
        prepare = partial(
            _prepare_page, tenant.pk, tuple(own_role_arns(tenant)), account_pks(tenant)
        )
        for page, prepared in read_ahead(lake.pages(run.query_id), prepare):
            result = store_prepared(prepared)
            run.rows_read += len(page.events)
            run.new_changes += result.new
            run.duplicates += result.duplicates
            run.unparseable += result.unparseable
            run.bytes_scanned = max(run.bytes_scanned, page.bytes_scanned)
            PollRun.objects.filter(pk=run.pk).update(
                rows_read=run.rows_read,
                new_changes=run.new_changes,
                duplicates=run.duplicates,
                unparseable=run.unparseable,
            )
            if progress:
                progress(page, result)
    except EXPECTED_ERRORS as exc:
        logger.warning("Lake poll of %s failed: %s", tenant.slug, exc)
        return _finish(run, PollStatus.FAILED, error=str(exc))
    except BaseException as exc:  # soft time limit, bugs: record, then let it propagate
        _finish(run, PollStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    return _finish(run, PollStatus.SUCCEEDED)


def _prepare_page(
    tenant_id: int, roles: tuple[str, ...], accounts: dict[str, int], page: ResultPage
) -> PreparedPage:
    """Parse a Lake page and build its rows (no database access: runs in read-ahead)."""
    parsed = [parse_text(event, own_role_arns=roles) for event in page.events]
    return prepare_page(tenant_id, parsed, source=Source.LAKE, accounts=accounts)


def _finish(run: PollRun, status: str, *, error: str = "") -> PollRun:
    run.status = status
    run.error = error[:5000]
    run.finished_at = timezone.now()
    with transaction.atomic():
        run.save(
            update_fields=[
                "status",
                "error",
                "finished_at",
                "query_id",
                "rows_read",
                "new_changes",
                "duplicates",
                "unparseable",
                "bytes_scanned",
            ]
        )
        if status == PollStatus.SUCCEEDED and run.kind == PollKind.SCHEDULED:
            # Only forward: a slow run finishing after a newer one never moves it back.
            LakeSource.objects.filter(tenant_id=run.tenant_id).filter(
                Q(watermark__isnull=True) | Q(watermark__lt=run.window_end)
            ).update(watermark=run.window_end)
        record_delivery(LakeSource, run.tenant_id, events=run.rows_read, new=run.new_changes)
        if status == PollStatus.SUCCEEDED:
            LakeSource.objects.filter(tenant_id=run.tenant_id).update(
                last_success_at=run.finished_at
            )
        else:
            record_source_error(LakeSource, run.tenant_id, run.error or status)
    return run


@dataclass
class BackfillTotals:
    """Sums over the runs of a backfill."""

    runs: int = 0
    failed: int = 0
    rows_read: int = 0
    new_changes: int = 0
    duplicates: int = 0
    unparseable: int = 0


def backfill(
    tenant: Tenant,
    since: datetime,
    until: datetime,
    *,
    chunk: timedelta = timedelta(days=1),
    lake: LakeClient | None = None,
    progress: Progress | None = None,
    on_window: Callable[[PollRun], None] | None = None,
) -> BackfillTotals:
    """Poll [since, until) window by window; the watermark is left alone."""
    totals = BackfillTotals()
    for start, end in backfill_windows(since, until, chunk):
        run = poll_window(tenant, start, end, kind=PollKind.BACKFILL, lake=lake, progress=progress)
        totals.runs += 1
        totals.failed += run.status != PollStatus.SUCCEEDED
        totals.rows_read += run.rows_read
        totals.new_changes += run.new_changes
        totals.duplicates += run.duplicates
        totals.unparseable += run.unparseable
        if on_window:
            on_window(run)
    return totals
