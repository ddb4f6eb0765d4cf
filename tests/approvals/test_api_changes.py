"""/api/v1/changes/: list (ingestion order, cursor), updates feed, filters, detail, decision."""

from __future__ import annotations

import datetime as dt

import pytest

from approvals.models import Decision
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal.models import AuditAction, AuditEntry
from tests.api import assert_error, assert_unauthenticated, call, tokens_fixture  # noqa: F401
from tests.approvals.factories import ChangeFactory
from tests.factories import AwsAccountFactory


def pull(client, token, params=None, param="cursor", start=""):
    """Every page from ``start`` until has_more is false: (ids, last cursor)."""
    ids, cursor = [], start
    while True:
        body = call(
            client, "get", "/api/v1/changes/", token, {**(params or {}), param: cursor}
        ).json()
        ids += [c["id"] for c in body["results"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return ids, cursor


def test_it_lists_the_tenants_changes_in_ingestion_order(client, tokens, account, other_account):
    ours = [ChangeFactory(account=account).pk for _ in range(7)]
    theirs = ChangeFactory(account=other_account).pk
    ids, cursor = pull(client, tokens.read, {"page_size": 3})
    assert ids == ours
    body = call(client, "get", "/api/v1/changes/", tokens.read, {"cursor": cursor}).json()
    assert body["results"] == [] and body["next_cursor"] == cursor and not body["has_more"]
    newer = ChangeFactory(account=account).pk
    assert pull(client, tokens.read, start=cursor)[0] == [newer]
    assert pull(client, tokens.outsider)[0] == [theirs]
    assert "raw" not in call(client, "get", "/api/v1/changes/", tokens.read).json()["results"][0]


def test_the_list_refuses_bad_tokens_and_a_token_without_read(client, tokens, account):
    ChangeFactory(account=account)
    assert_unauthenticated(client, "get", "/api/v1/changes/", tokens)
    assert_error(call(client, "get", "/api/v1/changes/", tokens.decide_only), 403, "missing_scope")


def test_the_detail_shows_the_change_and_hides_other_tenants(
    client, tokens, account, other_account
):
    change = ChangeFactory(account=account, raw={"eventID": "x"})
    theirs = ChangeFactory(account=other_account)
    body = call(client, "get", f"/api/v1/changes/{change.pk}/", tokens.read).json()
    assert body["id"] == change.pk and body["raw"] == {"eventID": "x"} and body["decisions"] == []
    assert_error(
        call(client, "get", f"/api/v1/changes/{theirs.pk}/", tokens.read), 404, "not_found"
    )
    assert_error(
        call(client, "get", f"/api/v1/changes/{change.pk}/", tokens.outsider), 404, "not_found"
    )
    assert_unauthenticated(client, "get", f"/api/v1/changes/{change.pk}/", tokens)


def test_a_decide_token_denies_through_decide(client, tokens, account):
    change = ChangeFactory(account=account)
    url = f"/api/v1/changes/{change.pk}/decision/"
    response = call(client, "post", url, tokens.decide, {"verdict": "deny", "reason": "world-open"})
    assert response.status_code == 201, response.content
    assert response.json()["verdict"] == "deny" and response.json()["via"] == "api"
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED
    decision = Decision.objects.get(change=change)
    assert decision.actor_name.startswith("api-token:decide")
    audit = AuditEntry.objects.get(tenant=account.tenant, action=AuditAction.DECIDE)
    assert audit.via == "api"
    again = call(client, "post", url, tokens.decide, {"verdict": "approve"})
    assert_error(again, 409, "already_decided")
    assert Decision.objects.filter(change=change).count() == 1


def test_decisions_are_refused_without_scope_to_outsiders_and_bad_tokens(client, tokens, account):
    change = ChangeFactory(account=account)
    url = f"/api/v1/changes/{change.pk}/decision/"
    body = {"verdict": "deny"}
    assert_error(call(client, "post", url, tokens.read, body), 403, "missing_scope")
    assert_error(call(client, "post", url, tokens.outsider, body), 404, "not_found")
    assert_unauthenticated(client, "post", url, tokens, body)
    assert_error(
        call(client, "post", url, tokens.decide, {"verdict": "undo_revert"}),
        400,
        "validation_error",
    )
    assert_error(call(client, "get", url, tokens.decide), 405, "method_not_allowed")
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING
    assert not Decision.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.DECIDE).exists()


def test_a_change_that_cannot_be_decided_is_a_409(client, tokens, account):
    change = ChangeFactory(account=account, status=ChangeStatus.INFORMATIONAL)
    response = call(
        client, "post", f"/api/v1/changes/{change.pk}/decision/", tokens.decide, {"verdict": "deny"}
    )
    assert_error(response, 409, "invalid_transition")
    assert not Decision.objects.exists()


@pytest.mark.django_db(transaction=True)  # each move commits on its own, as in production
def test_the_updates_feed_returns_changes_whose_status_moved(
    client, tokens, account, other_account
):
    a, b, c = (ChangeFactory(account=account) for _ in range(3))
    theirs = ChangeFactory(account=other_account)
    ids, cursor = pull(client, tokens.read, param="updated_since", start="0")
    assert ids == []
    for change in (c, a):
        call(
            client,
            "post",
            f"/api/v1/changes/{change.pk}/decision/",
            tokens.decide,
            {"verdict": "approve"},
        )
    SecurityGroupChange.objects.filter(pk=theirs.pk).update(status=ChangeStatus.APPROVED)
    ids, cursor = pull(client, tokens.read, param="updated_since", start=cursor)
    assert ids == [c.pk, a.pk]
    assert pull(client, tokens.read, param="updated_since", start=cursor)[0] == []
    SecurityGroupChange.objects.filter(pk=c.pk).update(status=ChangeStatus.DENIED)
    SecurityGroupChange.objects.filter(pk=b.pk).update(status=ChangeStatus.PENDING)  # no move
    assert pull(client, tokens.read, param="updated_since", start=cursor)[0] == [c.pk]
    assert pull(client, tokens.outsider, param="updated_since", start="0")[0] == [theirs.pk]


def test_the_filters(client, tokens, account):
    other_account = AwsAccountFactory(tenant=account.tenant, account_id="222222222222")
    t0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    match = ChangeFactory(
        account=account, status=ChangeStatus.PENDING, event_time=t0, region="eu-west-1"
    )
    ChangeFactory(account=account, status=ChangeStatus.APPROVED, event_time=t0)
    ChangeFactory(account=other_account, status=ChangeStatus.PENDING, event_time=t0)
    ChangeFactory(
        account=account, status=ChangeStatus.PENDING, event_time=t0 + dt.timedelta(days=2)
    )
    params = {
        "status": "pending",
        "account": account.pk,
        "event_time_after": "2026-08-31T00:00:00Z",
        "event_time_before": "2026-09-02T00:00:00Z",
    }
    assert pull(client, tokens.read, params)[0] == [match.pk]
    assert pull(client, tokens.read, {"account_id": "222222222222"})[0] != []
    assert pull(client, tokens.read, {"region": "eu-west-1"})[0] == [match.pk]
    assert pull(client, tokens.outsider, params)[0] == []
    assert_error(
        call(client, "get", "/api/v1/changes/", tokens.read, {"status": "bogus"}),
        400,
        "validation_error",
    )


def test_the_fast_list_serializer_says_exactly_what_drf_would(account):
    from rest_framework import serializers

    from approvals.api.serializers import CHANGE_FIELDS, ChangeSerializer

    class Plain(serializers.ModelSerializer):
        class Meta:
            model = SecurityGroupChange
            fields = CHANGE_FIELDS

    change = ChangeFactory(
        account=account,
        status_changed_at=dt.datetime(2026, 9, 2, 3, 4, 5, 600, tzinfo=dt.UTC),
        error_code="Client.X",
    )
    change.refresh_from_db()
    assert ChangeSerializer(change).data == Plain(change).data
    change.account = None
    change.status_changed_at = None
    assert ChangeSerializer(change).data == Plain(change).data


def test_an_account_id_no_row_can_have_is_an_empty_answer_not_an_error(client, tokens, account):
    mine = ChangeFactory(account=account)
    for value in (str(2**63), "-1", "0"):
        response = call(client, "get", "/api/v1/changes/", tokens.read, {"account": value})
        assert response.status_code == 200 and response.json()["results"] == [], value
    response = call(client, "get", "/api/v1/changes/", tokens.read, {"account": "1.5e141"})
    assert response.status_code == 400  # not a whole number: the schema says integer
    ids = call(client, "get", "/api/v1/changes/", tokens.read, {"account": account.pk}).json()
    assert [row["id"] for row in ids["results"]] == [mine.pk]
