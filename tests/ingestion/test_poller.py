"""Scheduled polls: windows, watermark, dedup across overlapping windows, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from ingestion.lake import build_query
from ingestion.models import ChangeStatus, LakeSource, PollKind, PollRun, PollStatus
from ingestion.models import SecurityGroupChange as Change
from ingestion.poller import poll_tenant, poll_window
from tests.ingestion.helpers import (
    FIXTURES,
    expect_query,
    load,
    record,
    results_page,
    stubbed_lake,
    with_event_id,
)

NOW = datetime(2026, 9, 14, 11, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _timing(settings):
    settings.SGPORTAL_POLL_OVERLAP_S = 900
    settings.SGPORTAL_POLL_SAFETY_LAG_S = 60


def set_watermark(tenant, moment):
    LakeSource.objects.filter(tenant=tenant).update(watermark=moment)


def watermark(tenant):
    return LakeSource.objects.get(tenant=tenant).watermark


def test_it_polls_the_fixture_pages_into_changes_and_advances_the_watermark(
    lake_tenant, ingested, django_capture_on_commit_callbacks
):
    # watermark 08:15, overlap 15 min, lag 1 min, now 11:01 -> the fixture's 08:00-11:00 query
    set_watermark(lake_tenant, datetime(2026, 9, 14, 8, 15, tzinfo=UTC))
    lake, stubber, _ = stubbed_lake()
    expect_query(
        stubber,
        [load("lake_query_results_page1.json"), load("lake_query_results_page2.json")],
        statement=(FIXTURES / "lake_query.sql").read_text().rstrip("\n"),
    )
    with (
        stubber,
        time_machine.travel(NOW, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = poll_tenant(lake_tenant, lake=lake)
    stubber.assert_no_pending_responses()

    assert (run.status, run.kind, run.error) == (PollStatus.SUCCEEDED, PollKind.SCHEDULED, "")
    assert (run.rows_read, run.new_changes, run.duplicates, run.unparseable) == (9, 9, 0, 0)
    assert run.bytes_scanned == 1843200
    assert run.window_start == datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
    assert run.window_end == datetime(2026, 9, 14, 11, 0, tzinfo=UTC)
    assert run.finished_at is not None
    assert watermark(lake_tenant) == datetime(2026, 9, 14, 11, 0, tzinfo=UTC)

    statuses = dict(Change.objects.values_list("event_id", "status"))
    assert statuses == {
        record(1)["eventID"]: ChangeStatus.PENDING,
        record(2)["eventID"]: ChangeStatus.PENDING,
        record(3)["eventID"]: ChangeStatus.PENDING,
        # The spoke role, but in a session no revert attempt of sgportal's made: reviewed.
        record(4)["eventID"]: ChangeStatus.PENDING,
        record(5)["eventID"]: ChangeStatus.PENDING,
        record(6)["eventID"]: ChangeStatus.PENDING,
        record(7)["eventID"]: ChangeStatus.INFORMATIONAL,
        record(8)["eventID"]: ChangeStatus.INFORMATIONAL,
        record(9)["eventID"]: ChangeStatus.INFORMATIONAL,
    }
    assert Change.objects.get(event_id=record(4)["eventID"]).via_spoke_role is True
    first = Change.objects.get(event_id=record(1)["eventID"])
    assert first.tenant == lake_tenant
    assert first.source == "lake"
    assert first.account.account_id == "111111111111"
    assert first.raw == record(1)
    assert [r["rule_id"] for r in first.rules] == [
        "sgr-0f1e2d3c4b5a69788",
        "sgr-01234abcd5678ef90",
        "sgr-0abcdef1234567890",
    ]
    assert Change.objects.get(event_id=record(2)["eventID"]).account is None  # not registered
    # one signal per page, after commit, with exactly the new ids
    assert [tenant_id for tenant_id, _ in ingested] == [lake_tenant.pk, lake_tenant.pk]
    assert sorted(i for _, ids in ingested for i in ids) == sorted(
        Change.objects.values_list("id", flat=True)
    )


def expect_window(stubber, tenant, start: tuple, end: tuple, rows: list) -> None:
    """Expect one Lake query for exactly [start, end) (UTC date-time tuples), one page."""
    statement = build_query(
        tenant.lake_source.event_data_store,
        datetime(*start, tzinfo=UTC),
        datetime(*end, tzinfo=UTC),
    )
    expect_query(stubber, [results_page(rows)], statement=statement)


def _event(n: int, minute: int) -> dict:
    rec = record(1)
    return with_event_id(
        rec, f"00000000-0000-4000-8000-{n:012d}", eventTime=f"2026-09-14T10:{minute:02d}:00Z"
    )


def test_overlapping_windows_store_no_duplicates_and_catch_a_late_event(
    lake_tenant, ingested, django_capture_on_commit_callbacks
):
    set_watermark(lake_tenant, datetime(2026, 9, 14, 10, 30, tzinfo=UTC))
    a, b, late = _event(1, 40), _event(2, 50), _event(3, 45)
    lake, stubber, _ = stubbed_lake()
    # tick 1 reads [10:15, 11:00): A and B; the event at 10:45 has not reached Lake yet
    expect_window(stubber, lake_tenant, (2026, 9, 14, 10, 15), (2026, 9, 14, 11, 0), [a, b])
    # tick 2 reads [10:45, 11:01): A is outside, B again, and the late event now
    expect_window(stubber, lake_tenant, (2026, 9, 14, 10, 45), (2026, 9, 14, 11, 1), [late, b])
    with stubber, django_capture_on_commit_callbacks(execute=True):
        with time_machine.travel(NOW, tick=False):
            first = poll_tenant(lake_tenant, lake=lake)
        with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
            second = poll_tenant(lake_tenant, lake=lake)
    stubber.assert_no_pending_responses()

    assert (first.new_changes, first.duplicates) == (2, 0)
    assert (second.new_changes, second.duplicates) == (1, 1)
    assert Change.objects.count() == 3
    late_id = Change.objects.get(event_id=late["eventID"]).pk
    assert ingested[-1] == (lake_tenant.pk, [late_id])
    assert watermark(lake_tenant) == datetime(2026, 9, 14, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("aws_status", "run_status"),
    [
        ("FAILED", PollStatus.FAILED),
        ("TIMED_OUT", PollStatus.TIMED_OUT),
        ("CANCELLED", PollStatus.CANCELLED),
    ],
)
def test_a_query_that_does_not_finish_leaves_the_watermark_and_the_next_tick_retries(
    lake_tenant, aws_status, run_status
):
    before = datetime(2026, 9, 14, 10, 30, tzinfo=UTC)
    set_watermark(lake_tenant, before)
    lake, stubber, _ = stubbed_lake()
    expect_query(stubber, [], statuses=("QUEUED", aws_status))
    expect_query(stubber, [results_page([_event(1, 40)])])
    with stubber:
        with time_machine.travel(NOW, tick=False):
            failed = poll_tenant(lake_tenant, lake=lake)
        assert failed.status == run_status
        assert failed.error
        assert watermark(lake_tenant) == before
        assert Change.objects.count() == 0
        with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
            retried = poll_tenant(lake_tenant, lake=lake)
    assert retried.status == PollStatus.SUCCEEDED
    assert retried.window_start == failed.window_start  # the same range is read again
    assert watermark(lake_tenant) == datetime(2026, 9, 14, 11, 1, tzinfo=UTC)
    assert Change.objects.count() == 1


def test_an_error_on_a_later_page_keeps_what_was_stored_and_the_watermark(lake_tenant):
    before = datetime(2026, 9, 14, 10, 30, tzinfo=UTC)
    set_watermark(lake_tenant, before)
    lake, stubber, _ = stubbed_lake()
    page1 = results_page([_event(1, 40)], next_token="TOKEN-PAGE-2")
    expect_query(stubber, [page1])
    stubber.add_client_error("get_query_results", "InvalidNextTokenException")
    with stubber, time_machine.travel(NOW, tick=False):
        run = poll_tenant(lake_tenant, lake=lake)
    assert run.status == PollStatus.FAILED
    assert "InvalidNextTokenException" in run.error
    assert (run.rows_read, run.new_changes) == (1, 1)
    assert watermark(lake_tenant) == before


def test_a_lake_outage_fails_the_run_after_botocores_retries_and_the_next_tick_recovers(
    lake_tenant,
):
    before = datetime(2026, 9, 14, 10, 30, tzinfo=UTC)
    set_watermark(lake_tenant, before)
    lake, wire, sleep = stubbed_lake()
    for _ in range(lake.max_attempts - 1):
        wire.add_connection_error("start_query")
    wire.add_client_error("start_query", "ServiceUnavailableException", http_status_code=503)
    with wire, time_machine.travel(NOW, tick=False):
        run = poll_tenant(lake_tenant, lake=lake)
    wire.assert_no_pending_responses()
    assert run.status == PollStatus.FAILED
    assert "ServiceUnavailableException" in run.error
    assert len(sleep.calls) == lake.max_attempts - 1
    assert watermark(lake_tenant) == before
    assert Change.objects.count() == 0

    expect_query(wire, [results_page([_event(1, 40)])])
    with wire, time_machine.travel(NOW, tick=False):
        run = poll_tenant(lake_tenant, lake=lake)
    assert run.status == PollStatus.SUCCEEDED
    assert run.new_changes == 1
    assert watermark(lake_tenant) > before


def test_one_unparseable_record_does_not_stop_the_others(lake_tenant):
    set_watermark(lake_tenant, datetime(2026, 9, 14, 10, 30, tzinfo=UTC))
    lake, stubber, _ = stubbed_lake()
    broken = '{"eventID": "broken-1", "eventName": "AuthorizeSecurityGroupIngress", "eventT'
    expect_query(stubber, [results_page([_event(1, 40), broken, _event(2, 41)])])
    with stubber, time_machine.travel(NOW, tick=False):
        run = poll_tenant(lake_tenant, lake=lake)
    assert run.status == PollStatus.SUCCEEDED
    assert (run.rows_read, run.new_changes, run.unparseable) == (3, 3, 1)
    bad = Change.objects.get(status=ChangeStatus.UNPARSEABLE)
    assert "not JSON" in bad.parse_error
    assert bad.raw == {"unparsed_text": broken}
    assert Change.objects.filter(status=ChangeStatus.PENDING).count() == 2


def test_throttling_then_success_completes_the_poll(lake_tenant):
    set_watermark(lake_tenant, datetime(2026, 9, 14, 10, 30, tzinfo=UTC))
    lake, stubber, sleep = stubbed_lake()
    stubber.add_client_error("start_query", "ThrottlingException", http_status_code=400)
    stubber.add_client_error("start_query", "MaxConcurrentQueriesException", http_status_code=429)
    expect_query(stubber, [results_page([_event(1, 40)])])
    with stubber, time_machine.travel(NOW, tick=False):
        run = poll_tenant(lake_tenant, lake=lake)
    assert run.status == PollStatus.SUCCEEDED
    assert run.new_changes == 1
    assert sleep.calls[:2] == [1.0, 2.0]


def test_an_injected_event_data_store_is_refused_before_any_call(lake_tenant):
    LakeSource.objects.filter(tenant=lake_tenant).update(event_data_store="x' OR eventName <> '")
    lake_tenant.refresh_from_db()
    lake, stubber, _ = stubbed_lake()  # no responses queued: any call would fail the test
    with stubber, time_machine.travel(NOW, tick=False):
        run = poll_tenant(lake_tenant, lake=lake)
    assert run.status == PollStatus.FAILED
    assert "not an event data store" in run.error
    assert run.query_id == ""
    assert LakeSource.objects.get(tenant=lake_tenant).watermark is None


def test_the_first_poll_reads_the_overlap_before_now(lake_tenant):
    lake, stubber, _ = stubbed_lake()
    expect_window(stubber, lake_tenant, (2026, 9, 14, 10, 45), (2026, 9, 14, 11, 0), [])
    with stubber, time_machine.travel(NOW, tick=False):
        run = poll_tenant(lake_tenant, lake=lake)
    assert run.status == PollStatus.SUCCEEDED
    assert watermark(lake_tenant) == datetime(2026, 9, 14, 11, 0, tzinfo=UTC)


def test_a_slow_run_finishing_late_never_moves_the_watermark_back(lake_tenant):
    newer = datetime(2026, 9, 14, 12, 0, tzinfo=UTC)
    set_watermark(lake_tenant, newer)
    lake, stubber, _ = stubbed_lake()
    expect_query(stubber, [results_page([_event(1, 40)])])
    with stubber:
        run = poll_window(
            lake_tenant,
            datetime(2026, 9, 14, 10, 0, tzinfo=UTC),
            datetime(2026, 9, 14, 11, 0, tzinfo=UTC),
            kind=PollKind.SCHEDULED,
            lake=lake,
        )
    assert run.status == PollStatus.SUCCEEDED
    assert watermark(lake_tenant) == newer
    assert PollRun.objects.count() == 1


def test_after_an_outage_ticks_catch_up_in_bounded_windows(lake_tenant):
    set_watermark(lake_tenant, datetime(2026, 9, 12, 0, 15, tzinfo=UTC))  # two days behind
    lake, stubber, _ = stubbed_lake()
    expect_window(stubber, lake_tenant, (2026, 9, 12, 0, 0), (2026, 9, 12, 6, 0), [])
    expect_window(stubber, lake_tenant, (2026, 9, 12, 5, 45), (2026, 9, 12, 11, 45), [])
    with stubber, time_machine.travel(NOW, tick=False):
        poll_tenant(lake_tenant, lake=lake)
        assert watermark(lake_tenant) == datetime(2026, 9, 12, 6, 0, tzinfo=UTC)
        poll_tenant(lake_tenant, lake=lake)
    stubber.assert_no_pending_responses()
    assert watermark(lake_tenant) == datetime(2026, 9, 12, 11, 45, tzinfo=UTC)
