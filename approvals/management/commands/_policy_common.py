"""Shared bits of the policy_* commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from sgportal.models import Tenant


def tenant_of(slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise CommandError(f"No tenant with slug {slug!r}.") from None
