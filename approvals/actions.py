"""The one decision path: every door (Slack, web, API, policy) calls ``decide``.

``decide`` claims the change with a conditional UPDATE on its status, so of two
concurrent verdicts exactly one changes a row; the loser sees the winner's decision and
gets ``AlreadyDecided``. The partial unique constraints on Decision back this up. The
audit entry is written in the same transaction; ``change_decided`` goes out on commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.models import Decision, Verdict, Via
from ingestion.models import REVERTED_STATUSES, ChangeStatus, SecurityGroupChange
from ingestion.status import claim
from sgportal import events
from sgportal.audit import actor_name_of, record_audit
from sgportal.models import AuditAction
from sgportal.text import storable


class DecisionError(Exception):
    """Base class of the refusals ``decide`` raises."""


class AlreadyDecided(DecisionError):
    """The change already has a decision of this kind; carries it."""

    def __init__(self, decision: Decision):
        self.decision = decision
        when = decision.decided_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__(f"already decided by {decision.actor_name} at {when}")


class InvalidTransition(DecisionError):
    """The verdict does not apply to the change in its current status."""


class ReasonRequired(DecisionError):
    """A deny without a reason, in a tenant that requires one (Tenant.deny_reason_required)."""

    code = "reason_required"


def _target_status(verdict: str, via: str) -> str:
    if verdict == Verdict.APPROVE:
        return ChangeStatus.AUTO_APPROVED if via == Via.POLICY else ChangeStatus.APPROVED
    return ChangeStatus.DENIED


def _existing(change_id: int, verdict: str) -> Decision | None:
    """The decision of the same kind (approve/deny, or undo) already taken, if any."""
    undo = verdict == Verdict.UNDO_REVERT
    kinds = [Verdict.UNDO_REVERT] if undo else [Verdict.APPROVE, Verdict.DENY]
    return Decision.objects.filter(change_id=change_id, verdict__in=kinds).first()


def _refuse(change_id: int, verdict: str) -> None:
    """Explain why a claim changed no row: someone decided first, or the status forbids it."""
    existing = _existing(change_id, verdict)
    if existing is not None:
        raise AlreadyDecided(existing)
    status = SecurityGroupChange.objects.filter(pk=change_id).values_list("status", flat=True)
    current = status.first() or "missing"
    raise InvalidTransition(f"cannot {verdict} a change whose status is {current}")


def decide(
    change: SecurityGroupChange,
    *,
    verdict: str,
    actor: Any,
    via: str,
    reason: str = "",
) -> Decision:
    """Record ``actor``'s verdict on ``change`` once, audited, and announce it after commit.

    ``actor`` is a portal user (or API client), or None / a label for policy decisions.
    Raises AlreadyDecided, InvalidTransition, NotInReviewerGroup (approvals.policy.gate)
    or ReasonRequired; nothing but an audited refusal is written then.
    """
    verdict = Verdict(verdict)
    via = Via(via)
    reason = storable(reason)  # a NUL typed in a form or a Slack modal: not a 500
    if via != Via.POLICY:  # reviewer groups (issue 15): the same check at every door
        from approvals.policy.gate import check_reviewer

        check_reviewer(change, actor, via)
        if verdict == Verdict.DENY and not reason.strip():
            _check_deny_reason(change, actor, via)
    now = timezone.now()
    user = actor if getattr(actor, "pk", None) and hasattr(actor, "get_username") else None
    actor_name = actor_name_of(actor if actor is not None else f"policy ({via})")[:300]

    try:
        decision, before_status, after_status = _record(
            change,
            verdict=verdict,
            via=via,
            user=user,
            actor_name=actor_name,
            reason=reason,
            now=now,
        )
    except IntegrityError:
        # The partial unique constraint caught a race the status claim did not (e.g. two
        # undo requests): report the winner; anything else is a real error.
        existing = _existing(change.pk, verdict)
        if existing is None:
            raise
        raise AlreadyDecided(existing) from None
    change.status = after_status
    if verdict != Verdict.UNDO_REVERT:
        change.status_changed_at = now
    return decision


def _check_deny_reason(change: SecurityGroupChange, actor: Any, via: str) -> None:
    """Refuse (audited) a deny without a reason when the change's tenant requires one; a
    change already decided is told who was first instead. One indexed read."""
    row = (
        SecurityGroupChange.objects.filter(pk=change.pk)
        .values_list("status", "tenant__deny_reason_required")
        .first()
    )
    if row is None or not row[1]:
        return
    if row[0] != ChangeStatus.PENDING:
        _refuse(change.pk, Verdict.DENY)
    refuse_decision(change, actor=actor, via=via, why="deny without a reason")
    raise ReasonRequired("a deny needs a reason in this tenant")


def _record(change, *, verdict, via, user, actor_name, reason, now):
    """Claim the change, write the decision and its audit entry: one transaction."""
    with transaction.atomic():
        if verdict == Verdict.UNDO_REVERT:
            locked = (
                SecurityGroupChange.objects.select_for_update()
                .filter(pk=change.pk, status__in=REVERTED_STATUSES)
                .values_list("status", flat=True)
                .first()
            )
            if locked is None:
                _refuse(change.pk, verdict)
            before_status = after_status = locked
        else:
            before_status = ChangeStatus.PENDING
            after_status = _target_status(verdict, via)
            if not claim(change.pk, [ChangeStatus.PENDING], after_status, now=now):
                _refuse(change.pk, verdict)
        decision = Decision.objects.create(
            change_id=change.pk,
            verdict=verdict,
            via=via,
            user=user,
            actor_name=actor_name,
            reason=reason,
            decided_at=now,
        )
        record_audit(
            change.tenant_id,
            AuditAction.DECIDE,
            actor=user if user is not None else actor_name,
            via=via,
            obj=change,
            before={"status": before_status},
            after={
                "status": after_status,
                "verdict": verdict,
                "decision_id": decision.pk,
                "reason": reason,
            },
        )
        change_id, decision_id, tenant_id = change.pk, decision.pk, change.tenant_id
        transaction.on_commit(
            lambda: events.announce(
                events.change_decided,
                Decision,
                change_id=change_id,
                decision_id=decision_id,
                verdict=verdict,
                tenant_id=tenant_id,
            )
        )
    return decision, before_status, after_status


def refuse_decision(
    change: SecurityGroupChange, *, actor: Any, via: str, why: str, detail: dict | None = None
) -> None:
    """Audit a refused attempt to decide (unlinked or unauthorised user)."""
    record_audit(
        change.tenant_id,
        AuditAction.DECISION_REFUSED,
        actor=actor,
        via=via,
        obj=change,
        after={"why": why, **(detail or {})},
    )
