"""The status machine: every move in the transitions table, and nothing else."""

from __future__ import annotations

import pytest

from ingestion.models import STATUS_TRANSITIONS, ChangeStatus, SecurityGroupChange
from ingestion.status import claim
from tests.approvals.factories import ChangeFactory

MOVES = [(source, target) for source, targets in STATUS_TRANSITIONS.items() for target in targets]
NOT_MOVES = [
    (source, target)
    for source in ChangeStatus.values
    for target in ChangeStatus.values
    if target not in STATUS_TRANSITIONS.get(source, ())
]


@pytest.mark.parametrize(("source", "target"), MOVES)
def test_it_makes_each_move_of_the_table_once(account, source, target):
    change = ChangeFactory(account=account, status=source)
    assert claim(change.pk, [source], target) is True
    change.refresh_from_db()
    assert change.status == target
    assert change.status_changed_at is not None
    # The same claim again changes nothing: the change is no longer in the source status.
    assert claim(change.pk, [source], target) is False
    change.refresh_from_db()
    assert change.status == target


@pytest.mark.parametrize(("source", "target"), MOVES)
def test_it_refuses_a_move_from_another_status(account, source, target):
    change = ChangeFactory(account=account, status=ChangeStatus.INFORMATIONAL)
    assert claim(change.pk, [source], target) is False
    change.refresh_from_db()
    assert change.status == ChangeStatus.INFORMATIONAL
    assert change.status_changed_at is None


def test_it_refuses_every_move_the_table_does_not_hold(account):
    assert len(NOT_MOVES) == len(ChangeStatus.values) ** 2 - len(MOVES)
    changes = {status: ChangeFactory(account=account, status=status) for status in ChangeStatus}
    for source, target in NOT_MOVES:
        with pytest.raises(ValueError):
            claim(changes[source].pk, [source], target)
    for status, change in changes.items():
        stored = SecurityGroupChange.objects.get(pk=change.pk)
        assert (stored.status, stored.status_changed_at) == (status, None)
