"""Schemathesis against the served OpenAPI schema, in-process on the WSGI app and real
PostgreSQL: for any input it generates (valid and invalid), with a valid read+decide token,
no response is a 5xx and every response conforms to the schema (status code documented,
body and headers as described)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import ignored_auth
from schemathesis.specs.openapi.formats import register_string_format

from approvals.api.views import INGESTED, UPDATED
from approvals.models import Decision
from ingestion.models import ChangeStatus
from sgportal.api.pagination import Feed, encode_cursor
from sgportal.api.schema import cursor_format
from sgportal.api.tokens import create_token
from sgportal.api.views import AuditEntryViewSet
from sgportal.api.viewsets import TenantScopedViewSet
from sgportal.audit import record_audit
from sgportal.models import AuditAction
from tests.approvals.factories import ChangeFactory

pytestmark = [pytest.mark.postgres]


FEEDS = [INGESTED, UPDATED, AuditEntryViewSet.feed, TenantScopedViewSet.feed]


def cursors(feed: Feed) -> st.SearchStrategy[str]:
    """Cursors ``feed`` could have handed out: the start, or any position in it."""
    position = st.lists(st.integers(0, 2**62), min_size=len(feed.position)).map(
        lambda values: encode_cursor(feed, values[: len(feed.position)])
    )
    return st.sampled_from(["", "0"]) | position


# Examples per operation: enough to reach every parameter and a bad value of each, small
# enough to keep the whole file well under a minute on a shared CI machine.
EXAMPLES = 25


def wsgi_app():
    """The project's WSGI app, minus the end-of-request connection close that would end the
    test's transaction (Django's test client does the same)."""
    app = get_wsgi_application()

    def call(environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            yield from app(environ, start_response)
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    return call


@pytest.fixture
def api_schema(db, tenant, account, other_account):
    """The schema as the app serves it, with a tenant holding changes in several states (and
    another tenant's change it must never show)."""
    for status in (ChangeStatus.PENDING, ChangeStatus.DENIED, ChangeStatus.INFORMATIONAL):
        ChangeFactory(account=account, status=status)
    ChangeFactory(account=other_account)
    record_audit(tenant, AuditAction.UPDATE, actor="fuzz", object_type="t", object_repr="acme")
    return schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app())


@pytest.fixture
def token(tenant) -> str:
    return create_token(tenant, name="fuzz", scopes=["read", "decide"], actor="t", via="cli")[1]


# schemathesis.pytest.from_fixture does not run on pytest 9 (it writes Function._nodeid), so
# the operations are walked here, each one a Hypothesis run of its own.
def test_the_api_conforms_to_its_schema(api_schema, token):
    for feed in FEEDS:
        register_string_format(cursor_format(feed.name), cursors(feed))
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9  # every route in the schema, not a partial load
    failures = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case):
            # ignored_auth drops the header and expects 401; the refusals themselves are
            # covered by tests/api.py's assert_unauthenticated on every endpoint.
            case.call_and_validate(headers=headers, excluded_checks=[ignored_auth])

        try:
            fuzz()
        except BaseException as exc:  # noqa: BLE001 (one operation's failure must not hide the next)
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures[operation.label] = exc
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())


def test_the_fuzzing_reached_the_database(db, tenant, account, token):
    """Guard against a fuzz run that never authenticates: the token works in-process."""
    change = ChangeFactory(account=account)
    app = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app())
    operation = app["/api/v1/changes/{id}/"]["GET"]
    response = operation.Case(path_parameters={"id": change.pk}).call(
        headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and response.json()["id"] == change.pk
    assert not Decision.objects.exists()
