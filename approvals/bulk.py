"""Bulk approve from the web queue (issue 13): one ``decide()`` per change, so each
decision is taken, audited and announced exactly as a single one would be."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from approvals.actions import DecisionError, decide
from approvals.models import Verdict, Via
from ingestion.models import SecurityGroupChange
from sgportal.tenancy import Role

MAX_BULK = 200


@dataclass
class BulkResult:
    approved: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # change id -> why
    missing: int = 0  # ids absent, not the user's, or where the user may not decide


def approve_changes(user: Any, change_ids: Iterable[int], *, reason: str) -> BulkResult:
    """Approve each change the user may decide (approver in its tenant), one decision per
    change; the others are counted, never touched."""
    wanted = list(dict.fromkeys(int(pk) for pk in change_ids))[:MAX_BULK]
    changes = SecurityGroupChange.objects.for_user(user, Role.APPROVER).filter(pk__in=wanted)
    result = BulkResult()
    found = {change.pk: change for change in changes.defer("raw")}
    result.missing = len(wanted) - len(found)
    for pk in wanted:
        change = found.get(pk)
        if change is None:
            continue
        try:
            decide(change, verdict=Verdict.APPROVE, actor=user, via=Via.WEB, reason=reason)
        except DecisionError as exc:
            result.refused[pk] = str(exc)
        else:
            result.approved.append(pk)
    return result
