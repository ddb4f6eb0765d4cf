"""manage.py poll_lake: one poll, a backfill with progress, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from ingestion import poller
from ingestion.lake import build_query
from ingestion.models import LakeSource, PollKind, PollRun, PollStatus
from ingestion.models import SecurityGroupChange as Change
from tests.ingestion.helpers import expect_query, record, results_page, stubbed_lake, with_event_id

NOW = datetime(2026, 9, 14, 11, 1, 0, tzinfo=UTC)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("poll_lake", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_refuses_an_unknown_tenant(lake_tenant):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        run("--tenant", "nope")
    assert PollRun.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since 'yesterday' is not a timestamp"),
        (["--since", "2026-09-14T08:00:00Z", "--until", "2026-13-01"], "--until '2026-13-01'"),
        (["--since", "2026-02-30T08:00:00Z"], "--since '2026-02-30T08:00:00Z' is not a"),
        (["--until", "2026-09-14T08:00:00Z"], "--until needs --since"),
        (["--since", "2026-09-14T09:00:00Z", "--until", "2026-09-14T08:00:00Z"], "not before"),
        (["--since", "2026-09-14", "--chunk-hours", "0"], "--chunk-hours"),
    ],
)
def test_it_explains_bad_timestamps(lake_tenant, args, message):
    with pytest.raises(CommandError, match=message):
        run("--tenant", "acme", *args)
    assert PollRun.objects.count() == 0


def test_it_refuses_a_tenant_without_a_store(tenant):
    with pytest.raises(CommandError, match="no CloudTrail Lake event data store"):
        run("--tenant", "acme")


def test_a_one_off_poll_needs_lake_polling_enabled(lake_tenant):
    LakeSource.objects.filter(tenant=lake_tenant).update(enabled=False)
    with pytest.raises(CommandError, match="Lake polling is off for tenant 'acme'"):
        run("--tenant", "acme")
    assert PollRun.objects.count() == 0


def test_it_backfills_a_range_window_by_window_without_moving_the_watermark(
    lake_tenant, monkeypatch
):
    lake, stubber, _ = stubbed_lake()
    store = lake_tenant.lake_source.event_data_store
    hours = [datetime(2026, 9, 14, h, 0, tzinfo=UTC) for h in (8, 9, 10)]
    ends = [*hours[1:], datetime(2026, 9, 14, 10, 30, tzinfo=UTC)]
    pages = [
        [
            results_page([record(1), record(2)], next_token="NEXT-TOKEN-1"),
            results_page([record(4)]),
        ],
        [results_page([record(3), record(6)])],
        [results_page([record(2), with_event_id(record(5), "late-event-0001")])],
    ]
    for (start, end), window_pages in zip(zip(hours, ends, strict=True), pages, strict=True):
        expect_query(stubber, window_pages, statement=build_query(store, start, end))
    monkeypatch.setattr(poller, "lake_client_for", lambda tenant, **kw: lake)
    with stubber:
        out, err = run(
            "--tenant",
            "acme",
            "--since",
            "2026-09-14T08:00:00Z",
            "--until",
            "2026-09-14 10:30",
            "--chunk-hours",
            "1",
        )
    stubber.assert_no_pending_responses()
    assert "acme: 3 window(s), 7 rows, 6 new, 1 duplicates, 0 unparseable, 0 failed" in out
    assert "3/3" in err  # the progress bar
    runs = PollRun.objects.order_by("window_start")
    assert [r.kind for r in runs] == [PollKind.BACKFILL] * 3
    assert [r.status for r in runs] == [PollStatus.SUCCEEDED] * 3
    assert [(r.new_changes, r.duplicates) for r in runs] == [(3, 0), (2, 0), (1, 1)]
    assert Change.objects.count() == 6
    assert not LakeSource.objects.filter(tenant=lake_tenant).exclude(watermark=None).exists()


def test_a_failed_backfill_window_makes_the_command_fail(lake_tenant, monkeypatch):
    lake, stubber, _ = stubbed_lake()
    expect_query(stubber, [], statuses=("FAILED",))
    monkeypatch.setattr(poller, "lake_client_for", lambda tenant, **kw: lake)
    with stubber, pytest.raises(CommandError, match="1 window"):
        run("--tenant", "acme", "--since", "2026-09-14T08:00:00", "--until", "2026-09-14T09:00")


def test_without_a_range_it_polls_once_and_moves_the_watermark(lake_tenant, monkeypatch):
    lake, stubber, _ = stubbed_lake()
    expect_query(stubber, [results_page([record(1)])])
    monkeypatch.setattr(poller, "lake_client_for", lambda tenant, **kw: lake)
    with stubber, time_machine.travel(NOW, tick=False):
        out, _ = run("--tenant", "acme")
    assert out.strip() == "acme: succeeded"
    assert LakeSource.objects.get(tenant=lake_tenant).watermark == datetime(
        2026, 9, 14, 11, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED", "TIMED_OUT"])
def test_a_failed_live_poll_makes_the_command_fail(lake_tenant, monkeypatch, status):
    # Issue 10, item 5: cron must see it (manage.py exits 1 on CommandError), like a backfill.
    lake, stubber, _ = stubbed_lake()
    expect_query(stubber, [], statuses=(status,))
    monkeypatch.setattr(poller, "lake_client_for", lambda tenant, **kw: lake)
    out = StringIO()
    with (
        stubber,
        time_machine.travel(NOW, tick=False),
        pytest.raises(CommandError, match="1 poll\\(s\\) did not succeed: acme"),
    ):
        call_command("poll_lake", "--tenant", "acme", stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("acme: ")
    assert PollRun.objects.get(tenant=lake_tenant).status != PollStatus.SUCCEEDED
    assert not LakeSource.objects.filter(tenant=lake_tenant).exclude(watermark=None).exists()
