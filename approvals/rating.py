"""Severity at ingest: the level ``approvals.describe.severity_of`` gives, for a change that
is not stored yet (registered with ``ingestion.store`` at start-up, issue 13)."""

from __future__ import annotations

from types import SimpleNamespace

from approvals import describe

SEVERITY_BY_LEVEL = {severity.level: severity for severity in describe.SEVERITIES}


def rate_at_ingest(rules: list[dict], via_spoke_role: bool, status: str) -> int:
    """The severity level of a change with these rules, before it has an id (so a modify is
    rated on its new definition as ingress: the worst case until the inventory knows)."""
    unsaved = SimpleNamespace(pk=None, rules=rules, via_spoke_role=via_spoke_role, status=status)
    return describe.severity_of(unsaved).level


def severity_for_level(level: int) -> describe.Severity | None:
    """The Severity (emoji, words) of a stored level; None for 0 (not rated)."""
    return SEVERITY_BY_LEVEL.get(level)
