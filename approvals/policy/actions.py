"""Policy writes outside admin: emergency mode on/off, and "allow this for 30 days"."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from approvals.actions import decide
from approvals.models import Verdict, Via
from approvals.policy.engine import facts_of
from approvals.policy.models import PolicyException, TenantPolicy
from sgportal.audit import actor_name_of, record_audit, snapshot
from sgportal.models import AuditAction, Tenant
from sgportal.text import storable


def set_emergency(tenant: Tenant, *, on: bool, actor: Any, reason: str, via: str = "web") -> None:
    """Switch the tenant's emergency mode, audited with who and why."""
    if on and not reason.strip():
        raise ValueError("Say why emergency mode is switched on.")
    with transaction.atomic():
        row, _ = TenantPolicy.objects.select_for_update().get_or_create(tenant=tenant)
        before = snapshot(row)
        row.emergency = on
        row.emergency_reason = reason if on else ""
        row.emergency_by = actor_name_of(actor)[:300] if on else ""
        row.emergency_since = timezone.now() if on else None
        row.save()
        record_audit(
            tenant,
            AuditAction.UPDATE,
            actor=actor,
            via=via,
            obj=row,
            before=before,
            after={**snapshot(row), "why": reason},
        )


def match_for_change(change: Any) -> dict:
    """A match spec for "this kind of change": same account, region, group and event, and
    the traffic and peer when the change names exactly one."""
    spec: dict = {"event_names": [change.event_name]}
    for key, value in (
        ("accounts", change.aws_account_id),
        ("regions", change.region),
        ("group_ids", change.group_id),
    ):
        if value:
            spec[key] = [value]
    perms = {
        (p.direction, p.protocol, p.lo, p.hi, str(p.net or ""), p.prefix_list, p.ref_group)
        for p in facts_of(change).perms
    }
    if len(perms) == 1:
        direction, protocol, lo, hi, net, prefix, ref = perms.pop()
        spec["direction"] = direction
        spec["protocols"] = [protocol]
        if lo >= 0 and protocol != "-1":
            spec["ports"] = str(lo) if lo == hi else f"{lo}-{hi}"
        if net:
            spec["peer_cidrs"] = [net]
        if prefix:
            spec["prefix_lists"] = [prefix]
        if ref:
            spec["group_refs"] = [ref]
    return spec


def allow_change(change: Any, *, user: Any, reason: str, days: int = 30) -> PolicyException:
    """Create an exception for changes like this one for ``days`` (audited) and approve this
    change with it. The caller has checked the user may decide the change."""
    reason = storable(reason)
    now = timezone.now()
    with transaction.atomic():
        exception = PolicyException.objects.create(
            tenant_id=change.tenant_id,
            match=match_for_change(change),
            owner=user,
            owner_name=actor_name_of(user)[:300],
            reason=reason,
            expires_at=now + dt.timedelta(days=days),
            from_change=change,
        )
        record_audit(
            change.tenant_id,
            AuditAction.CREATE,
            actor=user,
            via=Via.WEB,
            obj=exception,
            after=snapshot(exception),
        )
        decide(
            change,
            verdict=Verdict.APPROVE,
            actor=user,
            via=Via.WEB,
            reason=f"allowed for {days} days (exception #{exception.pk}): {reason}",
        )
    return exception
