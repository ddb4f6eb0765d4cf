"""Shared fixtures: two tenants and a user of each role, plus an outsider from the other tenant.

Every endpoint test uses ``outsider`` (an admin of ``other_tenant``) to prove it is refused.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from moto import mock_aws

from remediation import aws
from sgportal.tenancy import Role
from tests.factories import (
    AwsAccountFactory,
    MembershipFactory,
    SlackWorkspaceFactory,
    TenantFactory,
    UserFactory,
)


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
    tenant = TenantFactory(slug="acme", name="Acme Corp")
    SlackWorkspaceFactory(tenant=tenant, team_id="TACME0001", channel_id="CACME0001")
    return tenant


@pytest.fixture
def other_tenant(db):
    tenant = TenantFactory(slug="globex", name="Globex")
    SlackWorkspaceFactory(tenant=tenant, team_id="TGLOBEX01", channel_id="CGLOBEX01")
    return tenant


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


@pytest.fixture
def aws_env(monkeypatch):
    """moto for every AWS call, with fake worker credentials and an empty session cache."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.clear_cache()
    with mock_aws():
        yield
    aws.clear_cache()


@pytest.fixture
def celery_eager():
    """The suite's one way to run Celery tasks in-process (restored afterwards); yields the
    app's conf. Failures do not propagate, so an eager Retry re-runs the task at once as a
    worker would later; ``.get()`` on a result still raises a task's failure."""
    from sgportal.celery import app as celery_app

    keys = ("task_always_eager", "task_eager_propagates")
    saved = {key: celery_app.conf.get(key) for key in keys}
    celery_app.conf.update(task_always_eager=True, task_eager_propagates=False)
    yield celery_app.conf
    celery_app.conf.update(saved)


@pytest.fixture
def client_hooks():
    """Register botocore hooks on every client remediation.aws creates (the network edge)."""
    hooks = aws.client_hooks
    saved = list(hooks)
    yield hooks
    hooks[:] = saved


@pytest.fixture
def slack(settings):
    """The Slack stand-in (devtools.slack_standin) as SLACK_API_URL; a token
    ``xoxb-<TEAM>-…`` belongs to workspace <TEAM> in its auth.test."""
    from devtools.slack_standin import SlackStandin

    with SlackStandin() as standin:
        settings.SLACK_API_URL = standin.base_url
        settings.SLACK_RESPONSE_URL_HOSTS = ["hooks.slack.com", standin.origin]
        yield standin


METRICS_TOKEN = "test-metrics-token-0123456789abcdef"  # noqa: S105


@pytest.fixture
def scrape_metrics(client, settings):
    """GET /metrics as Prometheus does (``Authorization: Bearer METRICS_TOKEN``): the text."""
    settings.METRICS_TOKEN = METRICS_TOKEN

    def scrape() -> str:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert response.status_code == 200, response.status_code
        return response.content.decode()

    return scrape


@pytest.fixture(autouse=True)
def _empty_shared_cache():
    """Each test starts with an empty shared cache (login-limit counters, allauth's rate
    limits): the cache is its own Redis database, apart from the broker's queues."""
    from django.core.cache import cache

    cache.clear()
    yield
