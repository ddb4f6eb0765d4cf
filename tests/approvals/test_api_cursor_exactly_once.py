"""The changes cursor hands out every change exactly once on real PostgreSQL, even when a
slower transaction commits a change with a smaller id after later ones were pulled."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from tests.api import call, tokens_fixture  # noqa: F401
from tests.approvals.factories import ChangeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def pull(client, token, cursor):
    """Pages until has_more is false: (ids, cursor)."""
    ids = []
    while True:
        body = call(client, "get", "/api/v1/changes/", token, {"cursor": cursor, "page_size": 7})
        body = body.json()
        ids += [c["id"] for c in body["results"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return ids, cursor


def in_thread(target):
    def run():
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_late_commit_with_a_smaller_id_is_not_skipped(client, tokens, account):
    first = ChangeFactory(account=account).pk
    inserted, release = threading.Event(), threading.Event()
    slow_id = []

    def slow_transaction():
        with transaction.atomic():
            slow_id.append(ChangeFactory(account=account).pk)
            inserted.set()
            release.wait(30)

    slow = in_thread(slow_transaction)
    assert inserted.wait(30)
    later = [ChangeFactory(account=account).pk for _ in range(3)]
    assert slow_id[0] < later[0]  # the case ordering by id alone gets wrong

    ids, cursor = pull(client, tokens.read, "")
    assert ids == [first]  # later rows wait behind the transaction still running
    release.set()
    slow.join(30)
    more, cursor = pull(client, tokens.read, cursor)
    assert more == [slow_id[0], *later]
    assert pull(client, tokens.read, cursor)[0] == []
    assert pull(client, tokens.outsider, "")[0] == []


def test_a_client_pulling_while_others_insert_gets_each_change_once(client, tokens, account):
    stop = threading.Event()
    committed: list[int] = []

    def writer(hold: bool):
        while not stop.is_set():
            with transaction.atomic():
                pk = ChangeFactory(account=account).pk
                if hold:  # a slower writer: holds its transaction open a while
                    stop.wait(0.05)
            committed.append(pk)

    writers = [in_thread(lambda: writer(False)), in_thread(lambda: writer(True))]
    seen, cursor = [], ""
    for _ in range(40):
        ids, cursor = pull(client, tokens.read, cursor)
        seen += ids
    stop.set()
    for thread in writers:
        thread.join(30)
    ids, cursor = pull(client, tokens.read, cursor)
    seen += ids
    assert len(committed) > 20
    assert len(seen) == len(set(seen))  # never twice
    assert sorted(seen) == sorted(committed)  # never skipped
