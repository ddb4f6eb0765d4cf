"""manage.py poll_lake [--tenant SLUG] [--since T] [--until T]

Without --since/--until: one scheduled poll per tenant (or the one named), under the same
per-tenant lock as the beat task, moving the watermark. With --since (and optionally
--until): a backfill of that range, window by window, with a progress bar; it stores what
is new and leaves the watermark alone. Memory stays flat: one result page at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from ingestion.models import LakeSource, PollStatus
from ingestion.poller import backfill, poll_tenant_locked
from sgportal.models import Tenant

# A live poll that ended like this failed (skipped = another poll holds the lock: not a failure).
FAILED_OUTCOMES = {PollStatus.FAILED, PollStatus.CANCELLED, PollStatus.TIMED_OUT}


def parse_moment(value: str, option: str) -> datetime:
    """An ISO 8601 date or date-time; naive values are UTC."""
    text = value.strip()
    try:
        moment = parse_datetime(text) or datetime.fromisoformat(text)
    except ValueError:  # well formed but impossible (month 13), or not a timestamp at all
        moment = None
    if moment is None:
        raise CommandError(
            f"{option} {value!r} is not a timestamp; use ISO 8601, e.g. 2026-09-14T08:00:00Z."
        )
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class Command(BaseCommand):
    help = "Poll CloudTrail Lake once, or backfill a time range (--since/--until)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant.")
        parser.add_argument("--since", metavar="T", help="Backfill from T (ISO 8601, UTC).")
        parser.add_argument("--until", metavar="T", help="Backfill up to T (default: now).")
        parser.add_argument(
            "--chunk-hours",
            type=int,
            default=24,
            help="Backfill window per Lake query, in hours (default 24).",
        )

    def handle(self, *args, **options) -> None:
        since = parse_moment(options["since"], "--since") if options["since"] else None
        until = parse_moment(options["until"], "--until") if options["until"] else None
        if until is not None and since is None:
            raise CommandError("--until needs --since (a backfill range).")
        if options["chunk_hours"] < 1:
            raise CommandError("--chunk-hours must be at least 1.")
        tenants = self._tenants(options["tenant"], backfill=since is not None)
        if since is None:
            failed_slugs = []
            for tenant in tenants:
                outcome = poll_tenant_locked(tenant.pk)
                self.stdout.write(f"{tenant.slug}: {outcome}")
                if outcome in FAILED_OUTCOMES:
                    failed_slugs.append(tenant.slug)
            if failed_slugs:  # non-zero exit, so cron sees it (as for a backfill)
                raise CommandError(
                    f"{len(failed_slugs)} poll(s) did not succeed: {', '.join(failed_slugs)}; "
                    "see Poll runs in admin."
                )
            return
        until = until or timezone.now() - timedelta(seconds=settings.SGPORTAL_POLL_SAFETY_LAG_S)
        if since >= until:
            raise CommandError(f"--since {since:%Y-%m-%dT%H:%M:%SZ} is not before --until.")
        failed = 0
        for tenant in tenants:
            failed += self._backfill(tenant, since, until, timedelta(hours=options["chunk_hours"]))
        if failed:
            raise CommandError(f"{failed} window(s) failed; see Poll runs in admin.")

    def _tenants(self, slug: str | None, *, backfill: bool) -> list[Tenant]:
        if slug:
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                raise CommandError(f"No tenant with slug {slug!r}.")
            source = LakeSource.objects.filter(tenant=tenant).first()
            if source is None or not source.event_data_store:
                raise CommandError(f"Tenant {slug!r} has no CloudTrail Lake event data store.")
            if not backfill and not (tenant.active and source.enabled):
                raise CommandError(
                    f"Lake polling is off for tenant {slug!r} (inactive or Lake not enabled); "
                    "a backfill (--since) still works."
                )
            return [tenant]
        tenants = list(Tenant.objects.filter(active=True, lake_source__enabled=True))
        if not tenants:
            raise CommandError("No active tenant has CloudTrail Lake enabled.")
        return tenants

    def _backfill(self, tenant: Tenant, since: datetime, until: datetime, chunk) -> int:
        windows = -(-int((until - since).total_seconds()) // int(chunk.total_seconds()))
        with tqdm(
            total=windows, desc=tenant.slug, unit="window", file=self.stderr._out, leave=True
        ) as bar:
            counts = {"new": 0, "dup": 0, "rows": 0}

            def on_page(page, result) -> None:
                counts["rows"] += len(page.events)
                counts["new"] += result.new
                counts["dup"] += result.duplicates
                bar.set_postfix(counts, refresh=True)

            def on_window(run) -> None:
                bar.update(1)
                if run.status != "succeeded":
                    bar.write(f"{tenant.slug}: window {run.window_start} {run.status}: {run.error}")

            totals = backfill(
                tenant, since, until, chunk=chunk, progress=on_page, on_window=on_window
            )
        self.stdout.write(
            f"{tenant.slug}: {totals.runs} window(s), {totals.rows_read} rows, "
            f"{totals.new_changes} new, {totals.duplicates} duplicates, "
            f"{totals.unparseable} unparseable, {totals.failed} failed"
        )
        return totals.failed
