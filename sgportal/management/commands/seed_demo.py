"""seed_demo: a demo tenant with accounts in several regions, a reviewer and a tenant admin,
its ingestion sources (EventBridge; the organization trail in the AWS emulator), a policy
(an auto-approve rule, an exception, a rule whose 2-minute deadline runs out) and two weeks
of history for the dashboard.

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

from sgportal.models import AwsAccount, IdpGroupMapping, Membership, SlackIdentity, Tenant
from sgportal.tenancy import Role

DEMO_PASSWORD = "sgportal-demo"  # noqa: S105 (printed for the demo; never used outside it)
DEMO_ACCOUNTS = [
    ("111111111111", "prod-payments", ["us-east-1", "eu-west-1"]),
    ("222222222222", "prod-web", ["eu-west-1", "eu-central-1"]),
    ("444444444444", "staging", ["us-west-2"]),
]
DEMO_TEAM, DEMO_CHANNEL = "T0DEMO0001", "C0DEMO0001"
# The demo's policy (docs/policy.md), in policy_import's format: first match wins.
DEMO_POLICY = {
    "format": 1,
    "escalation_channel": DEMO_CHANNEL,
    "rules": [
        {
            "name": "Internal networks (10.0.0.0/8)",
            "position": 10,
            "match": {"peer_cidrs": ["10.0.0.0/8"]},
            "action": "auto_approve",
        },
        {
            "name": "Staging: decide within 2 minutes or it is reverted",
            "position": 20,
            "match": {"accounts": ["444444444444"]},
            "action": "review",
            "deadline_minutes": 2,
            "default_outcome": "revert",
        },
        {
            "name": "Admin ports open to the world",
            "position": 30,
            "match": {"world": True, "ports": ["22", "3389"]},
            "severity": 4,
            "action": "review",
            "deadline_minutes": 60,
            "default_outcome": "escalate",
        },
    ],
}
DEMO_EXCEPTION_REASON = "Office VPN range 203.0.113.0/24 (demo exception)"


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
            slug=slug,
            defaults={"name": "Demo Organization"},
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
        from devtools import demo_aws
        from ingestion.sources import set_eventbridge_secret

        set_eventbridge_secret(tenant, demo_aws.DEMO_EVENTBRIDGE_SECRET)
        trail = self._trail(tenant)
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
            # Verified by fiat, so the demo's reverts run from the start, whatever emulator
            # (or none) is there: a real tenant verifies an account by passing the role check
            # (its spoke role requires the tenant's ExternalId). Plain moto evaluates no trust
            # policy, so that check could never pass on it; `make demo`'s emulator
            # (devtools/moto_server.py) refuses the demo roles without an ExternalId, so the
            # later checks (the admin action, a save, beat) pass and keep them verified.
            AwsAccount.objects.filter(
                tenant=tenant, account_id=account_id, verified_at=None
            ).update(verified_at=timezone.now())
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
        # The demo identity provider's groups (devtools.oidc_provider) grant these roles.
        for group, role in (("sg-approvers", Role.APPROVER), ("sg-viewers", Role.VIEWER)):
            IdpGroupMapping.objects.update_or_create(
                tenant=tenant, group=group, defaults={"role": role}
            )
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
        admin = User.objects.get(username="admin")
        policy = self._policy(tenant, admin)
        from devtools.demo_history import seed_history

        history = seed_history(tenant, reviewer)
        self.stdout.write(f"Demo tenant {tenant.slug!r} with {len(DEMO_ACCOUNTS)} accounts.")
        self.stdout.write(f"  sources: EventBridge on; {trail}")
        self.stdout.write(f"  policy: {policy}")
        if history:
            self.stdout.write(f"  history: {history} changes of the past two weeks, decided")
        for line in logins:
            self.stdout.write(f"  login: {line}")

    def _policy(self, tenant: Tenant, admin) -> str:
        """The demo policy, imported as a team would (validated, audited), and one
        exception."""
        import datetime as dt

        from approvals.policy.io import import_policy
        from approvals.policy.models import PolicyException

        import_policy(tenant, DEMO_POLICY, actor="seed_demo", via="cli")
        PolicyException.objects.update_or_create(
            tenant=tenant,
            reason=DEMO_EXCEPTION_REASON,
            defaults={
                "match": {"peer_cidrs": ["203.0.113.0/24"]},
                "owner": admin,
                "owner_name": admin.get_username(),
                "expires_at": timezone.now() + dt.timedelta(days=30),
            },
        )
        names = ", ".join(f"{r['name']!r}" for r in DEMO_POLICY["rules"])
        return f"rules {names}; exception {DEMO_EXCEPTION_REASON!r}"

    def _trail(self, tenant: Tenant) -> str:
        """The organization trail as a source: its bucket and queue made in the AWS emulator
        (only with AWS_ENDPOINT_URL, i.e. in `make demo`), read with a read role."""
        import os

        from devtools import demo_aws
        from ingestion.models import TrailSource

        if not os.environ.get("AWS_ENDPOINT_URL"):
            return "trail off (no AWS emulator: AWS_ENDPOINT_URL is not set)"
        queue_url = demo_aws.ensure_trail()
        TrailSource.objects.update_or_create(
            tenant=tenant,
            defaults={
                "enabled": True,
                "queue_url": queue_url,
                "region": demo_aws.TRAIL_REGION,
                "read_role_arn": demo_aws.TRAIL_READ_ROLE,
                "bucket": demo_aws.TRAIL_BUCKET,
                "prefix": "",
            },
        )
        return f"trail on (s3://{demo_aws.TRAIL_BUCKET} -> SQS {demo_aws.TRAIL_QUEUE})"
