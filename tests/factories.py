"""factory-boy factories shared by the whole suite (extend per app in tests/<app>/)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from approvals.models import SlackWorkspace
from sgportal.models import AwsAccount, Membership, SlackIdentity, Tenant
from sgportal.tenancy import Role


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class SlackWorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlackWorkspace
        django_get_or_create = ("tenant",)

    tenant = factory.SubFactory(TenantFactory)
    team_id = factory.Sequence(lambda n: f"T{n:08d}")
    channel_id = factory.Sequence(lambda n: f"C{n:08d}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("pw-Secret-123")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Role.VIEWER


class AwsAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AwsAccount

    tenant = factory.SubFactory(TenantFactory)
    account_id = factory.Sequence(lambda n: f"{111111111111 + n:012d}")
    name = factory.Sequence(lambda n: f"account-{n}")
    spoke_role_arn = factory.LazyAttribute(
        lambda o: f"arn:aws:iam::{o.account_id}:role/SgGuardSpoke"
    )
    regions = factory.LazyFunction(lambda: ["us-east-1", "eu-west-1"])
    # Verified (its spoke role passed the role check), so reverts run in it; pass
    # verified_at=None for an unverified (inert) row.
    verified_at = factory.LazyFunction(timezone.now)


class SlackIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlackIdentity

    tenant = factory.SubFactory(TenantFactory)
    team_id = factory.LazyAttribute(lambda o: SlackWorkspace.of(o.tenant).team_id or "T0000000")
    slack_user_id = factory.Sequence(lambda n: f"U{n:08d}")
    user = factory.SubFactory(UserFactory)
