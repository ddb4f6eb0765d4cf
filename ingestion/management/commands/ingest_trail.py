"""manage.py ingest_trail [--tenant SLUG] [--once] [--since T [--until T]]

Without --since: read the organization trail's SQS notices and their S3 log files for every
tenant with an enabled trail source (or the one named): with --once until each queue is
empty, else for ever (long-polling, tenant after tenant). With --since (and optionally
--until; needs --tenant): a backfill that lists the trail's bucket under
<prefix>/AWSLogs/<org or account>/[<account>/]CloudTrail/<region>/YYYY/MM/DD/ for the days
of the range, and loads the log files delivered in it (by the time in their names), with a
progress bar. Non-zero exit when a file or a queue could not be read.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections
from django.utils import timezone
from tqdm import tqdm

from ingestion.management.commands.poll_lake import parse_moment
from ingestion.models import TrailSource
from ingestion.trail import EXPECTED_ERRORS, Totals, describe, read_tenant, reader_for
from sgportal.models import Tenant


class Command(BaseCommand):
    help = "Read the organization trail (SQS notices, S3 log files), or backfill a time range."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant.")
        parser.add_argument("--once", action="store_true", help="Stop when the queues are empty.")
        parser.add_argument("--since", metavar="T", help="Backfill from T (ISO 8601, UTC).")
        parser.add_argument("--until", metavar="T", help="Backfill up to T (default: now).")

    def handle(self, *args, **options) -> None:
        since = parse_moment(options["since"], "--since") if options["since"] else None
        until = parse_moment(options["until"], "--until") if options["until"] else None
        if until is not None and since is None:
            raise CommandError("--until needs --since (a backfill range).")
        if since is not None:
            if not options["tenant"]:
                raise CommandError("A backfill (--since) needs --tenant.")
            until = until or timezone.now()
            if since >= until:
                raise CommandError(f"--since {since:%Y-%m-%dT%H:%M:%SZ} is not before --until.")
            tenant = self._tenants(options["tenant"], backfill=True)[0]
            self._backfill(tenant, since, until)
            return
        tenants = self._tenants(options["tenant"], backfill=False)
        while True:
            failed = [t.slug for t in tenants if not self._read(t)]
            if options["once"]:
                break
            # Running for ever: a fresh database connection per pass, and a pause when the
            # long-poll is off (SGPORTAL_TRAIL_WAIT_S=0) or a queue failed.
            close_old_connections()
            if failed or not settings.SGPORTAL_TRAIL_WAIT_S:
                time.sleep(5 if failed else 1)
        if failed:
            raise CommandError(f"the trail of {', '.join(failed)} could not be read; see above.")

    def _tenants(self, slug: str | None, *, backfill: bool) -> list[Tenant]:
        if slug:
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                raise CommandError(f"No tenant with slug {slug!r}.")
            source = TrailSource.objects.filter(tenant=tenant).first()
            if source is None:
                raise CommandError(f"Tenant {slug!r} has no organization trail source.")
            if backfill and not source.bucket:
                raise CommandError(
                    f"Tenant {slug!r}: the trail source has no bucket; set it to backfill."
                )
            if not backfill:
                if not source.queue_url:
                    raise CommandError(f"Tenant {slug!r}: the trail source has no queue URL.")
                if not (tenant.active and source.enabled):
                    raise CommandError(
                        f"Reading the trail is off for tenant {slug!r} (inactive or the trail "
                        "source not enabled); a backfill (--since) still works."
                    )
            return [tenant]
        tenants = list(
            Tenant.objects.filter(active=True, trail_source__enabled=True)
            .exclude(trail_source__queue_url="")
            .order_by("slug")
        )
        if not tenants:
            raise CommandError("No active tenant has an enabled organization trail source.")
        return tenants

    def _read(self, tenant: Tenant) -> bool:
        try:
            totals = read_tenant(tenant, once=True)
        except EXPECTED_ERRORS as exc:
            self.stderr.write(f"{tenant.slug}: reading the queue failed: {describe(exc)}")
            return False
        self._report(tenant, totals)
        return True

    def _report(self, tenant: Tenant, totals: Totals) -> None:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(totals.skipped.items()))
        self.stdout.write(
            f"{tenant.slug}: {totals.messages} notice(s), {totals.files_read} file(s) read, "
            f"{totals.records} records, {totals.events} security-group events, "
            f"{totals.new} new, {totals.duplicates} duplicates, "
            f"{totals.files_failed} failed, {totals.dead_letters} dead letter(s)"
            + (f", skipped: {skipped}" if skipped else "")
        )
        for failure in totals.failures:
            self.stderr.write(f"{tenant.slug}: {failure}")

    def _backfill(self, tenant: Tenant, since, until) -> None:
        try:
            reader = reader_for(tenant)
            keys = list(reader.log_keys(since, until))
        except EXPECTED_ERRORS as exc:
            raise CommandError(
                f"{tenant.slug}: listing the bucket failed: {describe(exc)}"
            ) from None
        with tqdm(
            total=len(keys), desc=tenant.slug, unit="file", file=self.stderr._out, leave=True
        ) as bar:

            def progress(key: str, error: str) -> None:
                bar.update(1)
                if error:
                    bar.write(f"{tenant.slug}: {error}")

            totals = reader.backfill(keys, progress=progress)
        self._report(tenant, totals)
        if totals.files_failed:
            raise CommandError(f"{totals.files_failed} file(s) could not be read; see above.")
