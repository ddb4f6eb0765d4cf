"""policy_import --tenant SLUG FILE [--dry-run]: replace the tenant's rules with FILE's."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from approvals.management.commands._policy_common import tenant_of
from approvals.policy.io import PolicyFileError, import_policy, load_file


class Command(BaseCommand):
    help = (
        "Validate FILE (JSON, as policy_export writes it) and replace the tenant's rules with "
        "it, audited as a diff. Nothing changes when any rule is invalid."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="Show the diff; change nothing.")

    def handle(self, *args, tenant: str, file: str, dry_run: bool, **options) -> None:
        tenant_obj = tenant_of(tenant)
        try:
            changes = import_policy(
                tenant_obj, load_file(file), actor="policy_import (cli)", dry_run=dry_run
            )
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from None
        except PolicyFileError as exc:
            raise CommandError(
                "Nothing imported:\n" + "\n".join(f"  {e}" for e in exc.errors)
            ) from None
        self.stdout.write(json.dumps(changes, indent=2, default=str))
        self.stdout.write("dry run: nothing changed" if dry_run else "imported")
