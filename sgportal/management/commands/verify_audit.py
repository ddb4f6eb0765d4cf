"""verify_audit [--tenant SLUG]: check every tenant's audit hash chain; exit 1 on a break."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sgportal.audit import verify_chain
from sgportal.models import Tenant


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; names the first bad entry and exits non-zero."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")

    def handle(self, *args, tenant: str | None = None, **options) -> None:
        tenants = Tenant.objects.order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {tenant!r}.")
        broken = []
        for t in tenants:
            report = verify_chain(t)
            if report.ok:
                self.stdout.write(f"{t.slug}: OK ({report.checked} entries)")
            else:
                self.stderr.write(
                    f"{t.slug}: BROKEN after {report.checked} good entries: {report.error}"
                )
                broken.append(t.slug)
        if broken:
            raise CommandError(f"Audit chain broken for: {', '.join(broken)}")
