"""sgportal 0016: accounts whose spoke role already passed the role check are verified as of
that check; the others stay unverified until the next check. Then the same id may be
registered by two tenants, and verified by one only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from sgportal.models import AwsAccount

BEFORE = [("sgportal", "0015_tenant_slack_fields_moved")]
AT = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_accounts_with_a_passing_check_are_verified_and_the_rest_wait():
    old = _migrate(BEFORE)
    tenant_model = old.get_model("sgportal", "Tenant")
    account_model = old.get_model("sgportal", "AwsAccount")
    check_model = old.get_model("sgportal", "RoleCheck")
    acme = tenant_model.objects.create(slug="acme", name="Acme")
    globex = tenant_model.objects.create(slug="globex", name="Globex")

    def account(tenant, account_id: str, check: str | None, *, arn: str | None = None):
        role = f"arn:aws:iam::{account_id}:role/SgGuardSpoke"
        row = account_model.objects.create(
            tenant=tenant, account_id=account_id, name=account_id, spoke_role_arn=role
        )
        if check:
            check_model.objects.create(
                tenant=tenant, role_arn=arn or role, status=check, checked_at=AT
            )
        return row.pk

    passed = account(acme, "111111111111", "enforced")
    loose = account(acme, "222222222222", "not_enforced")
    unreachable = account(acme, "333333333333", "unreachable")
    other_role = account(acme, "444444444444", "enforced", arn="arn:aws:iam::1:role/Other")
    unchecked = account(acme, "555555555555", None)
    # Globex's own passing check of a role in its account (its check, its ExternalId).
    theirs = account(globex, "666666666666", "enforced")
    # Acme's passing check of a role Globex names: Acme's check proves nothing for Globex.
    account_model.objects.filter(pk=unchecked).delete()
    unchecked = account(globex, "555555555555", None)
    check_model.objects.create(
        tenant=acme,
        role_arn="arn:aws:iam::555555555555:role/SgGuardSpoke",
        status="enforced",
        checked_at=AT,
    )

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    verified = dict(AwsAccount.objects.values_list("pk", "verified_at"))
    assert verified[passed] == AT and verified[theirs] == AT
    assert verified[loose] is verified[unreachable] is verified[other_role] is None
    assert verified[unchecked] is None

    # Now the same id may be named by another tenant, unverified; verified by one only.
    squat = AwsAccount.objects.create(tenant_id=globex.pk, account_id="111111111111", name="squat")
    with pytest.raises(IntegrityError), transaction.atomic():
        AwsAccount.objects.filter(pk=squat.pk).update(verified_at=AT)
    with pytest.raises(IntegrityError), transaction.atomic():
        AwsAccount.objects.create(tenant_id=acme.pk, account_id="111111111111", name="twice")
