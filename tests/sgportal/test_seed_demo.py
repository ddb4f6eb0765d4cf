"""seed_demo sets public passwords, so it refuses to run outside the demo (SGPORTAL_DEMO)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from sgportal.models import AuditEntry, Membership, Tenant
from tests.factories import UserFactory


def test_it_refuses_outside_the_demo_and_changes_nothing(db, settings):
    settings.SGPORTAL_DEMO = False
    admin = UserFactory(username="admin", is_staff=True)  # a real deployment's own admin
    hash_before = admin.password
    with pytest.raises(CommandError, match="SGPORTAL_DEMO=1"):
        call_command("seed_demo")
    admin.refresh_from_db()
    assert admin.password == hash_before and not admin.check_password("sgportal-demo")
    assert not Tenant.objects.exists() and not Membership.objects.exists()
    assert not AuditEntry.objects.exists()


def test_it_seeds_the_demo_when_asked_to(db, settings):
    settings.SGPORTAL_DEMO = True
    call_command("seed_demo")
    assert Tenant.objects.get(slug="demo")
    reviewer = Membership.objects.get(user__username="reviewer").user
    assert reviewer.check_password("sgportal-demo")
