"""seed_demo: a demo tenant with accounts in several regions, a reviewer and a tenant admin.

Idempotent: running it again updates the same rows. Prints the logins. It sets public
passwords on users named ``admin`` and ``reviewer``, so it runs only in the demo: with
SGPORTAL_DEMO=1 (scripts/demo.py sets it), never on a real deployment.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from sgportal.models import AwsAccount, Membership, SlackIdentity, Tenant
from sgportal.tenancy import Role

DEMO_PASSWORD = "sgportal-demo"  # noqa: S105 (printed for the demo; never used outside it)
DEMO_ACCOUNTS = [
    ("111111111111", "prod-payments", ["us-east-1", "eu-west-1"]),
    ("222222222222", "prod-web", ["eu-west-1", "eu-central-1"]),
    ("444444444444", "staging", ["us-west-2"]),
]
DEMO_TEAM, DEMO_CHANNEL = "T0DEMO0001", "C0DEMO0001"


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant, its AWS accounts, a reviewer and a tenant admin."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--slug", default="demo")

    def handle(self, *args, slug: str, **options) -> None:
        if not settings.SGPORTAL_DEMO:
            raise CommandError(
                "seed_demo only runs in the demo (SGPORTAL_DEMO=1): it gives the users "
                "'admin' and 'reviewer' a public password. Nothing was changed."
            )
        self._seed(slug)

    @transaction.atomic
    def _seed(self, slug: str) -> None:
        tenant, _ = Tenant.objects.update_or_create(
            slug=slug, defaults={"name": "Demo Organization"}
        )
        from approvals.models import SlackWorkspace  # the demo's Slack (the stand-in's)

        SlackWorkspace.objects.update_or_create(
            tenant=tenant,
            defaults={
                "team_id": DEMO_TEAM,
                "channel_id": DEMO_CHANNEL,
                "bot_token": "xoxb-demo-token",
            },
        )
        # The demo's EventBridge endpoint takes this fixed secret (demo only; a real
        # tenant's secret is generated and shown once). Imported here: sgportal never
        # depends on ingestion outside this demo command.
        from ingestion.sources import set_eventbridge_secret

        set_eventbridge_secret(tenant, "demo-eventbridge-secret")
        for account_id, name, regions in DEMO_ACCOUNTS:
            AwsAccount.objects.update_or_create(
                tenant=tenant,
                account_id=account_id,
                defaults={
                    "name": name,
                    "regions": regions,
                    "spoke_role_arn": f"arn:aws:iam::{account_id}:role/SgGuardSpoke",
                },
            )
        User = get_user_model()
        logins = []
        people = (("reviewer", Role.APPROVER, False), ("admin", Role.ADMIN, True))
        for username, role, staff in people:
            user, _ = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@demo.example"}
            )
            user.is_staff = staff
            user.set_password(DEMO_PASSWORD)
            user.save()
            Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
            logins.append(f"{username} / {DEMO_PASSWORD} ({role})")
        reviewer = User.objects.get(username="reviewer")
        SlackIdentity.objects.update_or_create(
            team_id=DEMO_TEAM,
            slack_user_id="U0DEMOREV1",
            defaults={
                "tenant": tenant,
                "user": reviewer,
                "linked_via": "seed_demo",
                "verified_at": timezone.now(),
            },
        )
        self.stdout.write(f"Demo tenant {tenant.slug!r} with {len(DEMO_ACCOUNTS)} accounts.")
        for line in logins:
            self.stdout.write(f"  login: {line}")
