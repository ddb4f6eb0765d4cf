"""Policies (issue 15): ordered rules per tenant, exceptions, deadlines, emergency mode.

- ``models``: PolicyRule, PolicyException, ReviewerGroup, TenantPolicy, PolicyMatch.
- ``matcher``: pure matching of a change's facts against compiled rules (no database).
- ``engine``: the compiled policy of a tenant, cached per process, and ``evaluate``.
- ``apply``: the policy step on freshly ingested changes (notify or decide via ``policy``).
- ``gate``: who may decide a change (reviewer groups), shared by every door.
- ``deadlines``: the beat-driven sweep that applies default outcomes and escalates.
- ``io``: export, validated import (audited as a diff) and simulation.

This package's ``__init__`` imports nothing at load time: ``approvals.models`` imports
``approvals.policy.models``, which must not pull in ``approvals.actions``.
"""

from __future__ import annotations

from collections.abc import Iterable


def apply_policy(tenant_id: int, change_ids: Iterable[int]) -> dict[str, int]:
    """Notify or decide each pending change of the tenant (see ``approvals.policy.apply``)."""
    from approvals.policy.apply import apply_policy as run

    return run(tenant_id, change_ids)
