"""The dedup store: one insert per page, (tenant, eventID) unique, signal after commit."""

from __future__ import annotations

import json

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.models import ChangeStatus, Source
from ingestion.models import SecurityGroupChange as Change
from ingestion.parser import parse_record, parse_text
from ingestion.store import own_role_arns, store_changes
from tests.factories import AwsAccountFactory
from tests.ingestion.helpers import record, with_event_id
from tests.ingestion.test_parser import json_values, shaped


def test_it_inserts_new_changes_and_counts_duplicates(
    tenant, ingested, django_capture_on_commit_callbacks
):
    one, two = parse_record(record(1)), parse_record(record(2))
    with django_capture_on_commit_callbacks(execute=True):
        first = store_changes(tenant, [one, two, parse_record(record(1))], source=Source.LAKE)
    assert (first.new, first.duplicates) == (2, 1)
    assert ingested == [(tenant.pk, first.new_ids)]
    assert sorted(first.new_ids) == sorted(Change.objects.values_list("id", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        again = store_changes(tenant, [two, parse_record(record(3))], source=Source.EVENTBRIDGE)
    assert (again.new, again.duplicates) == (1, 1)
    assert ingested[-1] == (tenant.pk, again.new_ids)
    # the copy that came first wins; the second source does not overwrite it
    assert Change.objects.get(event_id=record(2)["eventID"]).source == Source.LAKE


def test_it_sends_nothing_when_nothing_is_new(tenant, ingested, django_capture_on_commit_callbacks):
    store_changes(tenant, [parse_record(record(1))], source=Source.LAKE)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = store_changes(tenant, [parse_record(record(1))], source=Source.LAKE)
    assert (result.new, result.duplicates) == (0, 1)
    assert callbacks == []


def test_the_signal_waits_for_the_commit(tenant, ingested, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        store_changes(tenant, [parse_record(record(1))], source=Source.LAKE)
        assert ingested == []
    assert len(callbacks) == 1


def test_the_same_event_is_separate_per_tenant(tenant, other_tenant):
    store_changes(tenant, [parse_record(record(1))], source=Source.LAKE)
    result = store_changes(other_tenant, [parse_record(record(1))], source=Source.LAKE)
    assert result.new == 1
    assert Change.objects.filter(event_id=record(1)["eventID"]).count() == 2


def test_it_stores_lake_text_verbatim_and_links_the_account(tenant, account):
    text = json.dumps(record(1), separators=(",", ":"))
    store_changes(tenant, [parse_text(text)], source=Source.LAKE)
    change = Change.objects.get()
    assert change.raw == record(1)
    assert change.account == account
    assert change.request_id == record(1)["requestID"]


def test_it_stores_many_rows_across_insert_batches(tenant):
    changes = [
        parse_record(with_event_id(record(1), f"00000000-0000-4000-8000-{n:012d}"))
        for n in range(1203)
    ]
    result = store_changes(tenant, changes, source=Source.LAKE)
    assert (result.new, result.duplicates) == (1203, 0)
    assert Change.objects.filter(tenant=tenant).count() == 1203


def test_our_roles_are_the_tenants_spoke_roles(tenant, other_tenant, account, other_account):
    AwsAccountFactory(tenant=tenant, account_id="222222222222", spoke_role_arn="")
    assert own_role_arns(tenant) == ["arn:aws:iam::111111111111:role/SgGuardSpoke"]
    change = parse_record(record(4), own_role_arns=own_role_arns(other_tenant))
    assert change.status == ChangeStatus.PENDING


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=st.one_of(json_values, shaped))
def test_whatever_the_parser_returns_can_be_stored(tenant, value):
    """On PostgreSQL this proves no NUL, lone surrogate or oversized value breaks a page."""
    # Every example starts from the same database: hypothesis runs them all inside one
    # test, and an event id stored by an earlier example would make this one a duplicate.
    with transaction.atomic():
        parsed = [parse_record(value), parse_text(json.dumps(value)), parse_record(record(1))]
        result = store_changes(tenant, parsed, source=Source.LAKE)
        assert result.new + result.duplicates == 3
        stored = Change.objects.get(tenant=tenant, event_id=parsed[0].event_id)
        assert stored.status == parsed[0].status
        transaction.set_rollback(True)


def test_a_failing_receiver_neither_stops_ingestion_nor_the_other_receivers(
    tenant, django_capture_on_commit_callbacks, caplog
):
    from sgportal.events import changes_ingested

    later = []

    def broken(sender, **kwargs):
        raise RuntimeError("approvals is down")

    def after(sender, change_ids, **kwargs):
        later.append(change_ids)

    changes_ingested.connect(broken, weak=False)
    changes_ingested.connect(after, weak=False)  # runs after the broken one
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = store_changes(tenant, [parse_record(record(1))], source=Source.LAKE)
    finally:
        changes_ingested.disconnect(broken)
        changes_ingested.disconnect(after)
    assert later == [result.new_ids]
    assert "approvals is down" in caplog.text
    assert Change.objects.count() == 1


def test_a_damaged_record_is_stored_unparseable_counted_and_never_pending(tenant, ingested):
    # Issue 10, item 1: the reason is kept, the page counts it, the policy never sees it.
    damaged = with_event_id(record(1), "damaged-1")
    damaged["requestParameters"] = None
    junk = with_event_id(record(1), "junk-1")
    junk["responseElements"]["securityGroupRuleSet"]["items"].append({})
    result = store_changes(tenant, [parse_record(damaged), parse_record(junk)], source=Source.LAKE)
    assert (result.new, result.unparseable) == (2, 1)
    stored = Change.objects.get(event_id="damaged-1")
    assert stored.status == ChangeStatus.UNPARSEABLE
    assert stored.parse_error == "requestParameters is null, not an object"
    assert stored.rules == []
    kept = Change.objects.get(event_id="junk-1")
    assert kept.status == ChangeStatus.PENDING
    assert len(kept.rules) == 3
    assert kept.parse_warnings == "dropped 1 empty securityGroupRuleSet item(s)"
