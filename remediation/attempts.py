"""The revert attempt's lifecycle: start, execute and finish revert (and undo) attempts.

Exactly once, step by step:

1. ``start_revert`` claims the change with a conditional UPDATE (denied -> reverting) and,
   in the same transaction, creates the RevertAttempt (status running, with its plan) and
   the REVERT_ATTEMPT audit entry. A redelivered or retried task finds the change already
   reverting and picks up that same running attempt instead of creating another.
2. ``execute_attempt`` takes a per-account slot and the attempt's advisory lock, snapshots
   the group once (the first ``before`` is kept across redeliveries), makes the calls
   (each idempotent in effect: a rule already gone answers NotFound, one already there
   answers Duplicate), and then describes the group again. Only that describe decides:
   the plan's expectations hold, or the attempt fails.
3. ``finish`` is a conditional UPDATE (running -> done/failed); only the caller that flips
   it writes REVERT_RESULT, moves the change's status and, on commit, sends
   ``revert_finished``. A worker killed between the EC2 call and step 3 leaves the attempt
   running; on redelivery the call answers NotFound, the describe confirms, and the result
   is recorded once.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from approvals.models import Decision, Verdict, Via
from ingestion.models import REVERTED_STATUSES, ChangeStatus, SecurityGroupChange
from ingestion.status import claim
from remediation import aws, executor, inventory, planner
from remediation.concurrency import account_slot, attempt_lock
from remediation.errors import PermanentAwsError, TransientAwsError
from remediation.models import (
    AttemptKind,
    AttemptStatus,
    Outcome,
    RevertAttempt,
)
from sgportal.audit import record_audit
from sgportal.events import announce, revert_finished
from sgportal.models import AuditAction

logger = logging.getLogger("remediation")
FAILURE_LOG_PREFIX = "SGPORTAL_REVERT_FAILED"
VIA = "remediation"


def _actor(decision: Decision | None) -> Any:
    if decision is None:
        return "system"
    if decision.via == Via.POLICY or (decision.user is None and not decision.actor_name):
        return "system"
    return decision.user or decision.actor_name


def _actor_name(decision: Decision | None) -> str:
    actor = _actor(decision)
    return actor if isinstance(actor, str) else decision.actor_name or actor.get_username()


def _source_identity(decision: Decision | None) -> str:
    """The SourceIdentity the attempt's AWS sessions carry (stored on the attempt)."""
    if decision is None or decision.via == Via.POLICY:
        return aws.SYSTEM_IDENTITY
    if decision.user is None and not decision.actor_name:
        return aws.SYSTEM_IDENTITY
    if decision.user is not None:
        user = decision.user
        return aws.source_identity_for(decision.actor_name, user.get_username(), user.pk)
    return aws.source_identity_for(decision.actor_name)


def _audit(attempt: RevertAttempt, action: str, after: dict) -> None:
    change = attempt.change
    record_audit(
        change.tenant_id,
        action,
        actor=_actor(attempt.decision),
        via=VIA,
        obj=change,
        after={"attempt_id": attempt.pk, "kind": attempt.kind, **after},
    )


def _new_attempt(
    change: SecurityGroupChange, decision: Decision | None, kind: str, plan: dict
) -> RevertAttempt:
    attempt = RevertAttempt.objects.create(
        change=change,
        decision=decision,
        kind=kind,
        actor_name=_actor_name(decision)[:300],
        dry_run=change.tenant.dry_run,
        role_arn=change.account.spoke_role_arn if change.account else "",
        source_identity=_source_identity(decision),
        plan=plan,
        started_at=timezone.now(),
    )
    _audit(
        attempt,
        AuditAction.REVERT_ATTEMPT,
        {"plan": plan, "dry_run": attempt.dry_run, "role_arn": attempt.role_arn},
    )
    return attempt


def _decision(change, verdict: str, decision_id: int | None) -> Decision | None:
    """The decision the task was sent for, else the change's decision of that verdict."""
    decisions = Decision.objects.filter(change=change, verdict=verdict).select_related("user")
    decision = decisions.filter(pk=decision_id).first() if decision_id else None
    return decision or decisions.first()


def start_revert(change_id: int, decision_id: int | None = None) -> RevertAttempt | None:
    """Claim a denied change (denied -> reverting) and plan it; or resume the running attempt."""
    with transaction.atomic():
        if not claim(change_id, [ChangeStatus.DENIED], ChangeStatus.REVERTING):
            return (
                RevertAttempt.objects.filter(
                    change_id=change_id, kind=AttemptKind.REVERT, status=AttemptStatus.RUNNING
                )
                .select_related("change__tenant", "change__account", "decision__user")
                .first()
            )
        change = SecurityGroupChange.objects.select_related("tenant", "account").get(pk=change_id)
        decision = _decision(change, Verdict.DENY, decision_id)
        if change.account is None:
            plan = planner.not_revertible(
                f"account {change.aws_account_id or '?'} is not registered with this tenant",
                change.group_id,
            )
        else:
            plan = planner.plan_revert(change, partial(inventory.prior_definition, change))
        return _new_attempt(change, decision, AttemptKind.REVERT, plan)


def start_undo(change_id: int, decision_id: int | None = None) -> RevertAttempt | None:
    """Plan the undo of a finished revert (from its snapshots), once per change."""
    with transaction.atomic():
        change = (
            SecurityGroupChange.objects.select_related("tenant", "account")
            .filter(pk=change_id)
            .first()
        )
        if change is None:
            return None
        existing = RevertAttempt.objects.filter(change=change, kind=AttemptKind.UNDO).first()
        if existing is not None:
            return existing if existing.status == AttemptStatus.RUNNING else None
        if change.status not in REVERTED_STATUSES:
            return None
        decision = _decision(change, Verdict.UNDO_REVERT, decision_id)
        revert = (
            change.revert_attempts.filter(
                kind=AttemptKind.REVERT,
                status=AttemptStatus.DONE,
                outcome__in=[Outcome.REVERTED, Outcome.AUTO_REVERTED],
            )
            .order_by("-id")
            .first()
        )
        if revert is None:
            plan = planner.not_revertible("no finished revert of this change to undo")
        else:
            plan = planner.plan_undo(revert.plan, revert.before or [], revert.after or [])
        try:
            with transaction.atomic():
                return _new_attempt(change, decision, AttemptKind.UNDO, plan)
        except IntegrityError:  # a concurrent task claimed it first
            return None


def _success_outcome(attempt: RevertAttempt) -> str:
    if attempt.dry_run:
        return Outcome.DRY_RUN
    if attempt.kind == AttemptKind.UNDO:
        return Outcome.UNDONE
    if attempt.decision is not None and attempt.decision.via == Via.POLICY:
        return Outcome.AUTO_REVERTED
    return Outcome.REVERTED


_NEXT_STATUS = {
    Outcome.REVERTED: ([ChangeStatus.REVERTING], ChangeStatus.REVERTED),
    Outcome.AUTO_REVERTED: ([ChangeStatus.REVERTING], ChangeStatus.AUTO_REVERTED),
    Outcome.REVERT_FAILED: ([ChangeStatus.REVERTING], ChangeStatus.REVERT_FAILED),
    Outcome.DRY_RUN: ([ChangeStatus.REVERTING], ChangeStatus.DENIED),
    Outcome.UNDONE: (REVERTED_STATUSES, ChangeStatus.APPROVED),
}


def finish(
    attempt: RevertAttempt,
    outcome: str,
    detail: str = "",
    *,
    error_code: str = "",
    after: list[dict] | None = None,
    calls: list[dict] | None = None,
) -> bool:
    """Record the result once (running -> done/failed); False if someone else already did."""
    failed = outcome in (Outcome.REVERT_FAILED, Outcome.UNDO_FAILED)
    if failed and attempt.kind == AttemptKind.UNDO:
        outcome = Outcome.UNDO_FAILED
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": AttemptStatus.FAILED if failed else AttemptStatus.DONE,
        "outcome": outcome,
        "detail": detail,
        "error_code": error_code[:100],
        "finished_at": now,
    }
    if after is not None:
        fields["after"] = after
    if calls is not None:
        fields["calls"] = calls
        request_ids = [c.get("request_id") for c in calls if c.get("request_id")]
        fields["aws_request_id"] = (request_ids[-1] if request_ids else "")[:100]
    with transaction.atomic():
        if not RevertAttempt.objects.filter(pk=attempt.pk, status=AttemptStatus.RUNNING).update(
            **fields
        ):
            return False
        if outcome in _NEXT_STATUS:
            sources, target = _NEXT_STATUS[outcome]
            claim(attempt.change_id, sources, target, now=now)
        for key, value in fields.items():
            setattr(attempt, key, value)
        _audit(
            attempt,
            AuditAction.REVERT_RESULT,
            {"outcome": outcome, "detail": detail, "error_code": error_code, "calls": calls},
        )
        change_id, attempt_id = attempt.change_id, attempt.pk
        transaction.on_commit(
            lambda: announce(
                revert_finished,
                RevertAttempt,
                change_id=change_id,
                attempt_id=attempt_id,
                outcome=outcome,
                detail=detail,
            )
        )
    if failed:
        change = attempt.change
        logger.error(
            "%s tenant=%s change=%s attempt=%s kind=%s account=%s region=%s group=%s "
            "code=%s detail=%s",
            FAILURE_LOG_PREFIX,
            change.tenant.slug,
            change.pk,
            attempt.pk,
            attempt.kind,
            change.aws_account_id,
            change.region,
            change.group_id,
            error_code or "-",
            detail,
        )
    return True


def _record(attempt: RevertAttempt, outcome: str, detail: str, **kwargs) -> str | None:
    """``finish``; the outcome recorded, or None when another execution recorded it first."""
    return attempt.outcome if finish(attempt, outcome, detail, **kwargs) else None


def _fail_outcome(attempt: RevertAttempt) -> str:
    return Outcome.UNDO_FAILED if attempt.kind == AttemptKind.UNDO else Outcome.REVERT_FAILED


def execute_attempt(attempt: RevertAttempt) -> str | None:
    """Act on a running attempt; returns the outcome it recorded (None if not ours to record).

    Raises ``TransientAwsError`` (throttled: retry later, unless out of tries),
    ``AccountBusy`` and ``AttemptBusy`` (retry shortly).
    """
    change = attempt.change
    account = change.account
    if not attempt.plan.get("revertible"):
        reason = attempt.plan.get("reason", "not revertible")
        return _record(
            attempt, _fail_outcome(attempt), f"not revertible: {reason}", error_code="NotRevertible"
        )
    with account_slot(account.tenant_id, account.account_id), attempt_lock(attempt.pk):
        attempt.refresh_from_db()
        if attempt.status != AttemptStatus.RUNNING:
            return None
        RevertAttempt.objects.filter(pk=attempt.pk).update(tries=F("tries") + 1)
        attempt.tries += 1
        return _act(attempt, change, account)


def _act(attempt: RevertAttempt, change: SecurityGroupChange, account) -> str | None:
    role, acct = account.spoke_role_arn, account.account_id
    if not attempt.source_identity:  # an attempt from before it was stored: store what is sent
        attempt.source_identity = _source_identity(attempt.decision)
        RevertAttempt.objects.filter(pk=attempt.pk).update(source_identity=attempt.source_identity)
    try:
        session_kind = "undo" if attempt.kind == AttemptKind.UNDO else "change"
        ec2 = aws.ec2_client(
            change.tenant,
            account,
            change.region,
            source_identity=attempt.source_identity,
            session_name=aws.session_name_for(change.pk, session_kind),
        )
        group_id = attempt.plan["group_id"]
        if attempt.before is None:
            attempt.before = executor.describe_group(ec2, group_id, role_arn=role, account_id=acct)
            # Revoke the rule ids the group holds now, never "whatever matches" on a later
            # redelivery; stored with the snapshot, in one update, before any call.
            attempt.plan = planner.resolve_rule_ids(attempt.plan, attempt.before)
            RevertAttempt.objects.filter(pk=attempt.pk).update(
                before=attempt.before, plan=attempt.plan
            )
        calls = executor.run_calls(
            ec2, attempt.plan, dry_run=attempt.dry_run, role_arn=role, account_id=acct
        )
        after = executor.describe_group(ec2, group_id, role_arn=role, account_id=acct)
        missing = not after and not executor.group_exists(
            ec2, group_id, role_arn=role, account_id=acct
        )
    except PermanentAwsError as exc:  # includes RoleAssumptionDenied
        return _record(attempt, _fail_outcome(attempt), str(exc), error_code=exc.code)
    except TransientAwsError as exc:
        if attempt.tries >= settings.REMEDIATION_MAX_TRIES:
            detail = f"gave up after {attempt.tries} tries; AWS kept answering {exc}"
            return _record(attempt, _fail_outcome(attempt), detail, error_code=exc.code)
        raise
    inventory.record_snapshot(account, change.region, attempt.plan["group_id"], after)
    if attempt.dry_run:
        detail = "dry run: permissions proven with DryRun, nothing changed"
        return _record(attempt, Outcome.DRY_RUN, detail, after=after, calls=calls)
    problems = planner.check(attempt.plan["expect"], after)
    if problems:
        detail = "not confirmed by DescribeSecurityGroupRules: " + "; ".join(problems)
        return _record(
            attempt,
            _fail_outcome(attempt),
            detail,
            error_code="NotConfirmed",
            after=after,
            calls=calls,
        )
    summary = "; ".join(c["summary"] + f" [{c['result']}]" for c in calls)
    if missing:
        summary += f"; group {group_id} no longer exists in account {acct}"
    return _record(
        attempt, _success_outcome(attempt), f"confirmed: {summary}", after=after, calls=calls
    )


def give_up_change(change_id: int, reason: str, code: str) -> bool:
    """Fail the change's running attempt when its task ran out of retries (never left
    running forever); False when there is none."""
    attempt = (
        RevertAttempt.objects.select_related("change__tenant", "decision")
        .filter(change_id=change_id, status=AttemptStatus.RUNNING)
        .first()
    )
    return attempt is not None and finish(attempt, _fail_outcome(attempt), reason, error_code=code)


def request_undo(change: SecurityGroupChange, actor: Any, via: str, reason: str = "") -> Decision:
    """Ask to undo a revert: a decision like any other (audited), acted on by the worker."""
    from approvals.actions import decide

    return decide(change, verdict=Verdict.UNDO_REVERT, actor=actor, via=via, reason=reason)
