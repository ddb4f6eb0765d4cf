"""verify_audit [--tenant SLUG]: check every tenant's audit chain (HMAC) against its head and
the latest signed checkpoints; exit 1 on a break."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sgportal.audit import verify_chain
from sgportal.checkpoints import CheckpointError, configured_stores, latest_checkpoints
from sgportal.models import Tenant


class Command(BaseCommand):
    help = (
        "Verify the audit log's HMAC chain, its heads and the latest signed checkpoints "
        "(AUDIT_CHECKPOINT_DIR, AUDIT_CHECKPOINT_S3_URI); names the first break, exits non-zero."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")

    def handle(self, *args, tenant: str | None = None, **options) -> None:
        tenants = Tenant.objects.order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {tenant!r}.")
        try:
            checkpoints = latest_checkpoints()
        except CheckpointError as exc:
            self.stderr.write(f"checkpoints: BROKEN: {exc}")
            raise CommandError(f"Audit checkpoints cannot be trusted: {exc}") from exc
        self._describe(checkpoints)

        broken = []
        for t in tenants:
            report = verify_chain(t, checkpoints)
            if report.ok:
                self.stdout.write(f"{t.slug}: OK ({report.checked} entries)")
            else:
                self.stderr.write(
                    f"{t.slug}: BROKEN after {report.checked} good entries: {report.error}"
                )
                broken.append(t.slug)
        if not tenant:  # a tenant deleted together with its whole chain
            present = set(Tenant.objects.values_list("pk", flat=True))
            for cp in checkpoints:
                for mark in cp.heads.values():
                    if mark.tenant_id not in present and mark.seq > 0:
                        self.stderr.write(
                            f"{mark.tenant}: BROKEN: tenant id {mark.tenant_id} had {mark.seq} "
                            f"entries in checkpoint {cp.location} but is gone from the database"
                        )
                        broken.append(mark.tenant)
        if broken:
            raise CommandError(f"Audit chain broken for: {', '.join(dict.fromkeys(broken))}")

    def _describe(self, checkpoints) -> None:
        if not configured_stores():
            self.stderr.write(
                "WARNING: no checkpoint store configured (AUDIT_CHECKPOINT_DIR, "
                "AUDIT_CHECKPOINT_S3_URI): entries cut from the end of a chain together "
                "with its head cannot be detected."
            )
            return
        if not checkpoints:
            self.stderr.write("WARNING: no checkpoint written yet (manage.py audit_checkpoint).")
        stale_after = dt.timedelta(seconds=2 * settings.AUDIT_CHECKPOINT_INTERVAL_S)
        for cp in checkpoints:
            self.stdout.write(
                f"checkpoint {cp.location} ({cp.created_at.isoformat()}): signature OK, "
                f"{len(cp.heads)} chain heads"
            )
            if timezone.now() - cp.created_at > stale_after:
                self.stderr.write(
                    f"WARNING: the latest checkpoint in {cp.location} is older than "
                    f"{stale_after}; is beat running, or were newer checkpoints removed?"
                )
