"""createtoken --tenant SLUG --name N [--scope read --scope decide] [--expires DAYS]."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sgportal.api.tokens import DEFAULT_EXPIRY_DAYS, TokenError, create_token
from sgportal.models import Tenant
from sgportal.models.tokens import Scope


class Command(BaseCommand):
    help = "Create an API token for a tenant and print it once (only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scope",
            action="append",
            choices=Scope.values,
            help="Repeat for several; default: read.",
        )
        parser.add_argument(
            "--expires",
            type=int,
            default=DEFAULT_EXPIRY_DAYS,
            metavar="DAYS",
            help=f"Days until the token expires (default {DEFAULT_EXPIRY_DAYS}; 0: never).",
        )

    def handle(
        self, *args, tenant: str, name: str, scope: list[str] | None, expires: int, **options
    ) -> None:
        try:
            tenant_obj = Tenant.objects.get(slug=tenant)
        except Tenant.DoesNotExist:
            raise CommandError(f"No tenant with slug {tenant!r}.") from None
        try:
            _, text = create_token(
                tenant_obj,
                name=name,
                scopes=scope,
                expires_days=expires,
                actor="manage.py createtoken",
                via="cli",
            )
        except TokenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(text)
