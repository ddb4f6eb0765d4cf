"""createtoken --tenant SLUG --name N [--scope read --scope decide]: print a new API token once."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from sgportal.audit import record_audit
from sgportal.models import ApiToken, AuditAction, Tenant
from sgportal.models.tokens import Scope, hash_secret


class Command(BaseCommand):
    help = "Create an API token for a tenant and print it (it is not stored and not shown again)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scope",
            action="append",
            choices=Scope.values,
            help="Repeat for several; default: read.",
        )

    def handle(self, *args, tenant: str, name: str, scope: list[str] | None, **options) -> None:
        try:
            tenant_obj = Tenant.objects.get(slug=tenant)
        except Tenant.DoesNotExist:
            raise CommandError(f"No tenant with slug {tenant!r}.") from None
        if ApiToken.objects.filter(tenant=tenant_obj, name=name).exists():
            raise CommandError(f"Tenant {tenant!r} already has a token named {name!r}.")
        key_id, secret, text = ApiToken.generate()
        with transaction.atomic():
            token = ApiToken.objects.create(
                tenant=tenant_obj,
                name=name,
                key_id=key_id,
                secret_hash=hash_secret(secret),
                scopes=sorted(set(scope or [Scope.READ])),
                created_by_name="manage.py createtoken",
            )
            record_audit(
                tenant_obj,
                AuditAction.TOKEN_CREATE,
                actor="manage.py createtoken",
                via="cli",
                obj=token,
                after={"name": name, "scopes": token.scopes, "key_id": key_id},
            )
        self.stdout.write(text)
