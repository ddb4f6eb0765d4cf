"""policy_simulate --tenant SLUG [--days N] [FILE]: what a policy would do to stored changes."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from approvals.management.commands._policy_common import tenant_of
from approvals.policy.io import PolicyFileError, load_file, simulate


class Command(BaseCommand):
    help = (
        "Replay the stored changes of the last N days through the tenant's policy (or FILE's) "
        "and print what it would decide. Writes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--days", type=int, default=7)
        parser.add_argument("file", nargs="?")

    def handle(self, *args, tenant: str, days: int, file: str | None, **options) -> None:
        tenant_obj = tenant_of(tenant)
        try:
            data = load_file(file) if file else None
            result = simulate(tenant_obj, days=days, data=data)
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from None
        except PolicyFileError as exc:
            errors = "\n".join(f"  {e}" for e in exc.errors)
            raise CommandError("Invalid policy:\n" + errors) from None
        for change_id, action, rule, severity in result.rows:
            self.stdout.write(f"change {change_id}: {action} (severity {severity}) by {rule}")
        self.stdout.write(f"{len(result.rows)} changes in the last {days} days")
        for action, count in sorted(result.by_action.items()):
            self.stdout.write(f"  {action}: {count}")
