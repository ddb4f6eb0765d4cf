"""GET /api/v1/poll-runs/: the token's tenant's runs only, read scope, filters."""

from __future__ import annotations

import datetime as dt

from ingestion.models import PollRun, PollStatus
from tests.api import assert_error, assert_unauthenticated, call, tokens_fixture  # noqa: F401

T0 = dt.datetime(2026, 9, 14, 8, 0, tzinfo=dt.UTC)


def run(tenant, status=PollStatus.SUCCEEDED) -> PollRun:
    return PollRun.objects.create(
        tenant=tenant, window_start=T0, window_end=T0, started_at=T0, status=status
    )


def test_it_lists_and_filters_the_tenants_poll_runs(client, tokens, tenant, other_tenant):
    ok, failed = run(tenant), run(tenant, PollStatus.FAILED)
    theirs = run(other_tenant)
    body = call(client, "get", "/api/v1/poll-runs/", tokens.read).json()
    assert [r["id"] for r in body["results"]] == [ok.pk, failed.pk]
    body = call(client, "get", "/api/v1/poll-runs/", tokens.read, {"status": "failed"}).json()
    assert [r["id"] for r in body["results"]] == [failed.pk]
    body = call(client, "get", "/api/v1/poll-runs/", tokens.outsider).json()
    assert [r["id"] for r in body["results"]] == [theirs.pk]
    url = f"/api/v1/poll-runs/{ok.pk}/"
    assert call(client, "get", url, tokens.read).json()["status"] == "succeeded"
    assert_error(call(client, "get", url, tokens.outsider), 404, "not_found")
    for path in ("/api/v1/poll-runs/", url):
        assert_unauthenticated(client, "get", path, tokens)
        assert_error(call(client, "get", path, tokens.decide_only), 403, "missing_scope")
