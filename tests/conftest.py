"""Shared fixtures: two tenants and a user of each role, plus an outsider from the other tenant.

Every endpoint test uses ``outsider`` (an admin of ``other_tenant``) to prove it is refused.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from sgportal.tenancy import Role
from tests.factories import AwsAccountFactory, MembershipFactory, TenantFactory, UserFactory


def pytest_report_header(config):
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"sgportal: database={engine} broker={settings.CELERY_BROKER_URL}"


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.postgres`` tests need PostgreSQL. `make test` always provides it (and sets
    SGPORTAL_REQUIRE_POSTGRES=1, so a missing server is an error, never a silent skip); a bare
    ``pytest`` on the SQLite default skips them."""
    import os

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    if os.environ.get("SGPORTAL_REQUIRE_POSTGRES") == "1":
        pytest.exit("SGPORTAL_REQUIRE_POSTGRES=1 but DATABASE_URL is not PostgreSQL", returncode=3)
    skip = pytest.mark.skip(reason="needs PostgreSQL (run `make test`)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# --- audit log triggers (issue 9, finding 10) ---------------------------------------------
@pytest.fixture(autouse=True, scope="session")
def _flush_past_the_audit_log_triggers():
    """PostgreSQL refuses TRUNCATE of the audit tables (migration 0005), and Django empties the
    database after each ``transaction=True`` test with TRUNCATE: that flush, and only it, runs
    with triggers off (the test server's user is a superuser, as a database owner could be)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        if not statements:
            return statements
        return ["SET LOCAL session_replication_role = replica", *statements]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


# --- end of audit log triggers block ------------------------------------------------------


@pytest.fixture
def tenant(db):
    return TenantFactory(
        slug="acme", name="Acme Corp", slack_team_id="TACME0001", slack_channel_id="CACME0001"
    )


@pytest.fixture
def other_tenant(db):
    return TenantFactory(
        slug="globex", name="Globex", slack_team_id="TGLOBEX01", slack_channel_id="CGLOBEX01"
    )


def _member(tenant, role, username, *, staff=False):
    user = UserFactory(username=username, is_staff=staff)
    MembershipFactory(user=user, tenant=tenant, role=role)
    return user


@pytest.fixture
def admin_user(tenant):
    """A tenant admin of ``tenant`` (staff, role admin)."""
    return _member(tenant, Role.ADMIN, "alice-admin", staff=True)


@pytest.fixture
def approver(tenant):
    return _member(tenant, Role.APPROVER, "bob-approver")


@pytest.fixture
def viewer(tenant):
    return _member(tenant, Role.VIEWER, "carol-viewer")


@pytest.fixture
def outsider(other_tenant):
    """An admin of the *other* tenant: must never see or touch ``tenant``'s data."""
    return _member(other_tenant, Role.ADMIN, "mallory-outsider", staff=True)


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def account(tenant):
    return AwsAccountFactory(tenant=tenant, account_id="111111111111", name="prod-payments")


@pytest.fixture
def other_account(other_tenant):
    return AwsAccountFactory(tenant=other_tenant, account_id="999999999999", name="globex-prod")
