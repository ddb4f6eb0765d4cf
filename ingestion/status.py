"""The one way a stored change's status moves: ``claim``, a conditional UPDATE.

Of two concurrent claims of the same move exactly one changes a row, so a duplicate
task, a second click or a redelivery is harmless. Only the moves in
``ingestion.models.STATUS_TRANSITIONS`` are allowed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone

from ingestion.models import STATUS_TRANSITIONS, SecurityGroupChange


def claim(
    change_id: int, from_statuses: Iterable[str], to: str, *, now: dt.datetime | None = None
) -> bool:
    """Move the change to ``to`` if its status is one of ``from_statuses``; True if this
    call moved it. Raises ValueError for a move the transitions table does not allow."""
    sources = list(from_statuses)
    for source in sources:
        if to not in STATUS_TRANSITIONS.get(source, ()):
            raise ValueError(f"no status transition {source} -> {to}")
    moved = SecurityGroupChange.objects.filter(pk=change_id, status__in=sources).update(
        status=to, status_changed_at=now or timezone.now()
    )
    return bool(moved)
