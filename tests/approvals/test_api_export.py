"""/api/v1/changes/export/: NDJSON for bulk backfill, tenant-scoped, scope read, resumable
exactly once with X-Next-Cursor, streamed from a server-side cursor in flat memory."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from django.db import connection

from approvals.api import export
from ingestion.models import ChangeStatus
from tests.api import assert_error, assert_unauthenticated, call, tokens_fixture  # noqa: F401
from tests.approvals.factories import ChangeFactory

URL = "/api/v1/changes/export/"


def lines(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    assert response.streaming
    body = b"".join(response.streaming_content)
    return [json.loads(line) for line in body.splitlines()]


def test_it_exports_the_tenants_changes_and_resumes_exactly_once(
    client, tokens, account, other_account
):
    ours = [ChangeFactory(account=account).pk for _ in range(5)]
    ChangeFactory(account=other_account)
    response = call(client, "get", URL, tokens.read)
    assert [row["id"] for row in lines(response)] == ours
    cursor = response["X-Next-Cursor"]
    newer = ChangeFactory(account=account).pk
    again = call(client, "get", URL, tokens.read, {"cursor": cursor})
    assert [row["id"] for row in lines(again)] == [newer]
    # The list continues from an export's cursor, and the other way round.
    listing = call(client, "get", "/api/v1/changes/", tokens.read, {"cursor": cursor}).json()
    assert [c["id"] for c in listing["results"]] == [newer]
    empty = call(client, "get", URL, tokens.read, {"cursor": again["X-Next-Cursor"]})
    assert lines(empty) == [] and empty["X-Next-Cursor"] == again["X-Next-Cursor"]
    assert [row["id"] for row in lines(call(client, "get", URL, tokens.outsider))] != ours


def test_filters_and_ocsf_apply(client, tokens, account):
    pending = ChangeFactory(account=account)
    ChangeFactory(account=account, status=ChangeStatus.APPROVED)
    rows = lines(call(client, "get", URL, tokens.read, {"status": "pending"}))
    assert [row["id"] for row in rows] == [pending.pk]
    rows = lines(call(client, "get", URL, tokens.read, {"status": "pending", "format": "ocsf"}))
    assert rows[0]["class_uid"] == 6003
    assert rows[0]["unmapped"]["sgportal"]["change_id"] == pending.pk


def test_it_refuses_bad_tokens_missing_scope_and_bad_input(client, tokens, account):
    ChangeFactory(account=account)
    assert_unauthenticated(client, "get", URL, tokens)
    assert_error(call(client, "get", URL, tokens.decide_only), 403, "missing_scope")
    assert_error(call(client, "get", URL, tokens.read, {"cursor": "nope"}), 400, "validation_error")
    assert_error(call(client, "get", URL, tokens.read, {"status": "x"}), 400, "validation_error")


@pytest.mark.postgres
def test_memory_stays_flat_as_the_export_grows(client, tokens, account, monkeypatch):
    """5,000 rows in chunks of 500: peak Python memory while streaming is far below what
    holding the rows would take, and does not grow with the row count."""
    monkeypatch.setattr(export, "CHUNK_SIZE", 500)

    def insert(count: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO ingestion_securitygroupchange (tenant_id, account_id, event_id,
                     source, event_name, event_time, aws_account_id, region, request_id,
                     actor_type, actor_arn, actor_account_id, session_issuer_arn, via_console,
                     source_ip, user_agent, group_id, group_name, vpc_id, rules, error_code,
                     error_message, parse_error, raw, status, ingested_at, invoked_by,
                     via_spoke_role, parse_warnings, sources, severity)
                   SELECT %s, %s, 'bulk-' || g || '-' || %s, 'manual',
                     'AuthorizeSecurityGroupIngress', now(), '111111111111', 'eu-west-1', '',
                     'IAMUser', 'arn:aws:iam::1:user/x', '', '', false, '198.51.100.1',
                     repeat('agent ', 40), 'sg-1', 'g', 'vpc-1', '[]', '', '', '', '{}',
                     'pending', now(), '', false, '[]', 0, 0
                   FROM generate_series(1, %s) g""",
                [account.tenant_id, account.pk, count, count],
            )

    def peak() -> tuple[int, int]:
        tracemalloc.start()
        response = call(client, "get", URL, tokens.read)
        count = sum(chunk.count(b"\n") for chunk in response.streaming_content)
        result = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return count, result

    insert(1000)
    small_count, small_peak = peak()
    insert(4000)
    big_count, big_peak = peak()
    assert (small_count, big_count) == (1000, 5000)
    # Holding 5,000 rows would take several MB more than 1,000; streaming stays flat.
    assert big_peak < small_peak * 1.5 + 500_000, (small_peak, big_peak)
