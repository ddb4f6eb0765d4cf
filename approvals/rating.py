"""Severity at ingest: the level ``approvals.wording.severity_of`` gives, for a change that
is not stored yet (registered with ``ingestion.store`` at start-up, issue 13)."""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace

from approvals import wording
from ingestion.models import ChangeStatus

SEVERITY_BY_LEVEL = {severity.level: severity for severity in wording.SEVERITIES}


def rate_at_ingest(rules: list[dict], via_spoke_role: bool, status: str) -> int:
    """The severity level of a change with these rules, before it has an id (so a modify is
    rated on its new definition as ingress: the worst case until the inventory knows).

    ``wording.severity_of`` is the worst of its rules' ratings, so each distinct rule is
    rated once (cached) and the change gets the worst: ingestion pays microseconds a row."""
    if via_spoke_role and status != ChangeStatus.OURS:
        return wording.SPOKE_ROLE.level
    worst = wording.LOW.level
    for data in rules or []:
        try:
            key = tuple(sorted((k, v) for k, v in data.items() if k not in _UNRATED))
            level = _rule_level(key)
        except (AttributeError, TypeError):  # not a dict, or unhashable values: rate it whole
            unsaved = SimpleNamespace(pk=None, rules=[data], via_spoke_role=False, status=status)
            level = wording.severity_of(unsaved).level
        worst = max(worst, level)
    return worst


# What the rating never reads (before a change has an id): leaving them out of the cache
# key lets every "tcp/22 from 0.0.0.0/0" share one entry whatever its rule id.
_UNRATED = frozenset({"rule_id", "description", "extra"})


@lru_cache(maxsize=4096)
def _rule_level(key: tuple) -> int:
    unsaved = SimpleNamespace(pk=None, rules=[dict(key)], via_spoke_role=False, status="")
    return wording.severity_of(unsaved).level


def severity_for_level(level: int) -> wording.Severity | None:
    """The Severity (emoji, words) of a stored level; None for 0 (not rated)."""
    return SEVERITY_BY_LEVEL.get(level)
