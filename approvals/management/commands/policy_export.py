"""policy_export --tenant SLUG: the tenant's policy rules as JSON on stdout."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from approvals.management.commands._policy_common import tenant_of
from approvals.policy.io import export_policy


class Command(BaseCommand):
    help = "Print the tenant's policy (rules, escalation channel) as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)

    def handle(self, *args, tenant: str, **options) -> None:
        self.stdout.write(json.dumps(export_policy(tenant_of(tenant)), indent=2))
