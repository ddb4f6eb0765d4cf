"""Deadlines: a pending change past its deadline gets its rule's default outcome.

``sweep`` (beat, every ``POLICY_SWEEP_INTERVAL_S``) claims due ``PolicyMatch`` rows with one
conditional UPDATE per batch (``claimed_until`` = a lease; PostgreSQL: ``FOR UPDATE SKIP
LOCKED``, so two sweeps never take the same row) and hands them to workers in chunks.
``act`` then applies, for each claimed row:

- ``approve`` / ``revert``: ``decide()`` via ``policy``, audited with the rule;
- ``escalate``: first a reminder in the change's Slack thread (the deadline comes again
  after the same time), then a message in the escalation channel, and from then on the
  escalation group may decide too.

Each step moves ``stage`` by a conditional UPDATE from the stage it read, so a step runs
once. A worker that dies after the claim leaves the row claimed until the lease ends; the
next sweep takes it again (a decision is idempotent: the second gets AlreadyDecided). A
long outage only delays outcomes: every row past its due time is still due.

Exceptions that expired send what they approved back for review (``expire_exceptions``).
"""

from __future__ import annotations

import datetime as dt
import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from approvals.actions import DecisionError, decide
from approvals.models import Decision, Verdict, Via
from approvals.policy.models import (
    DeadlineStage,
    DefaultOutcome,
    PolicyException,
    PolicyMatch,
)
from approvals.slack.transport import SlackTransport, TransportError
from ingestion.models import ChangeStatus
from ingestion.status import claim
from sgportal import db, publish
from sgportal.audit import record_audit
from sgportal.models import AuditAction

log = logging.getLogger(__name__)

# Tasks by name (sgportal.publish): this module stays importable without the task modules.
APPLY_DEADLINES = "approvals.policy.tasks.apply_deadlines"
POST_DEADLINE_MESSAGE = "approvals.policy.tasks.post_deadline_message"
APPLY_POLICY = "approvals.tasks.apply_policy"
LEASE_S = 300
CHUNK = 200
OUTCOME_VERDICT = {DefaultOutcome.APPROVE: Verdict.APPROVE, DefaultOutcome.REVERT: Verdict.DENY}


def _claim_batch(now: dt.datetime, limit: int, after: tuple | None) -> list[tuple]:
    """Claim up to ``limit`` due rows nobody holds, after the ``(due_at, change_id)`` key
    ``after`` (keyset: each batch starts where the last one ended instead of walking again
    over the rows already claimed, which made a sweep of N due rows cost N²/batch).
    Returns ``(due_at, change_id)`` of the rows claimed."""
    lease = now + timedelta(seconds=LEASE_S)
    if db.is_postgresql():
        table = connection.ops.quote_name(PolicyMatch._meta.db_table)
        keyset, params = "", [lease, now, now]
        if after is not None:
            keyset, params = "AND (due_at, change_id) > (%s, %s)", [*params, *after]
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {table} SET claimed_until = %s
                WHERE change_id IN (
                    SELECT change_id FROM {table}
                    WHERE due_at IS NOT NULL AND due_at <= %s
                      AND (claimed_until IS NULL OR claimed_until < %s) {keyset}
                    ORDER BY due_at, change_id LIMIT %s FOR UPDATE SKIP LOCKED
                )
                RETURNING due_at, change_id
                """,  # noqa: S608 (table name from model metadata, fixed SQL fragments)
                [*params, limit],
            )
            return sorted(cursor.fetchall())
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = PolicyMatch.objects.filter(free, due_at__lte=now)
    if after is not None:
        due = due.filter(Q(due_at__gt=after[0]) | Q(due_at=after[0], pk__gt=after[1]))
    rows = list(due.order_by("due_at", "pk").values_list("due_at", "pk")[:limit])
    PolicyMatch.objects.filter(free, pk__in=[pk for _, pk in rows]).update(claimed_until=lease)
    claimed = set(
        PolicyMatch.objects.filter(pk__in=[pk for _, pk in rows], claimed_until=lease).values_list(
            "pk", flat=True
        )
    )
    return [row for row in rows if row[1] in claimed]


def sweep(now: dt.datetime | None = None, *, batch: int = 5000, inline: bool = False) -> dict:
    """Claim every due row and hand them to workers (``inline``: act here, for tests)."""
    now = now or timezone.now()
    counts = {"claimed": 0, "exceptions_expired": expire_exceptions(now)}
    after = None
    while True:
        with transaction.atomic():
            rows = _claim_batch(now, batch, after)
        if not rows:
            break
        after = rows[-1]
        ids = [change_id for _, change_id in rows]
        counts["claimed"] += len(ids)
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            if inline:
                act_on(chunk, now)
            else:
                publish.enqueue(APPLY_DEADLINES, [chunk])
        if len(rows) < batch:
            break
    from approvals.policy.digest import resume_digests

    counts["digests_resumed"] = resume_digests(now)
    return counts


def act_on(change_ids: list[int], now: dt.datetime | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for change_id in change_ids:
        outcome = act(change_id, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _advance(match: PolicyMatch, **values) -> bool:
    """Move the row on from the stage it was read in; False if someone else did."""
    return bool(
        PolicyMatch.objects.filter(pk=match.pk, stage=match.stage, due_at=match.due_at).update(
            claimed_until=None, **values
        )
    )


def _label(match: PolicyMatch) -> str:
    return f"rule {match.rule_name!r} (#{match.rule_id})" if match.rule_id else match.rule_name


def act(change_id: int, now: dt.datetime | None = None) -> str:
    """Apply the due step of one claimed change; what happened."""
    now = now or timezone.now()
    match = PolicyMatch.objects.select_related("change__tenant").filter(pk=change_id).first()
    if match is None or match.due_at is None or match.due_at > now:
        return "not_due"
    change = match.change
    if change.status != ChangeStatus.PENDING:
        _advance(match, stage=DeadlineStage.DONE, due_at=None)
        return "already_decided"
    verdict = OUTCOME_VERDICT.get(match.default_outcome)
    if verdict is not None:
        with transaction.atomic():
            if not _advance(match, stage=DeadlineStage.DONE, due_at=None):
                return "raced"
            try:
                decide(
                    change,
                    verdict=verdict,
                    actor=f"policy (deadline of {_label(match)})"[:300],
                    via=Via.POLICY,
                    reason=f"{_label(match)}: no decision within {match.deadline_minutes} min, "
                    f"default outcome {match.default_outcome}",
                )
            except DecisionError:
                return "already_decided"
        return match.default_outcome
    if match.stage == DeadlineStage.WAITING:
        again = now + timedelta(minutes=max(1, match.deadline_minutes or 60))
        with transaction.atomic():
            if not _advance(match, stage=DeadlineStage.REMINDED, due_at=again):
                return "raced"
            _audit_step(match, "reminded")
            transaction.on_commit(lambda: _post_reminder(change_id))
        return "reminded"
    with transaction.atomic():
        if not _advance(match, stage=DeadlineStage.ESCALATED, due_at=None):
            return "raced"
        _audit_step(match, "escalated")
        transaction.on_commit(lambda: _post_escalation(change_id))
    return "escalated"


def _audit_step(match: PolicyMatch, step: str) -> None:
    record_audit(
        match.tenant_id,
        AuditAction.UPDATE,
        actor=f"policy (deadline of {_label(match)})"[:300],
        via=Via.POLICY,
        obj=match.change,
        after={"deadline": step, "rule": match.rule_name, "rule_id": match.rule_id},
    )


def _post_reminder(change_id: int) -> None:
    publish.enqueue(POST_DEADLINE_MESSAGE, [change_id, "reminder"])


def _post_escalation(change_id: int) -> None:
    publish.enqueue(POST_DEADLINE_MESSAGE, [change_id, "escalation"])


def post_deadline_message(change_id: int, kind: str) -> str:
    """The reminder (in the change's thread) or the escalation (in the escalation channel)."""
    from approvals.slack.blocks import detail_url, escape_mrkdwn, summary_text
    from approvals.slack.delivery import why_slack_unusable

    match = PolicyMatch.objects.select_related("change__tenant").filter(pk=change_id).first()
    if match is None or match.change.status != ChangeStatus.PENDING:
        return "skipped"
    change, tenant = match.change, match.change.tenant
    if why_slack_unusable(tenant):
        return "skipped"
    message = getattr(change, "slack_message", None)
    link = f"<{detail_url(change)}|open in sgportal>"
    try:
        transport = SlackTransport(tenant)
        if kind == "reminder":
            if message is None or not message.ts:
                return "skipped"
            transport.post_text(
                message.channel,
                f":alarm_clock: Still waiting for a decision ({escape_mrkdwn(match.rule_name)}). "
                f"It will be escalated in {match.deadline_minutes} min. {link}",
                thread_ts=message.ts,
            )
        else:
            transport.post_text(
                match.escalation_channel,
                f":rotating_light: Escalated: nobody decided in time. {summary_text(change)} "
                f"({escape_mrkdwn(match.rule_name)}) {link}",
            )
    except TransportError as exc:
        log.warning("deadline %s for change %s not posted: %s", kind, change_id, exc)
        return "failed"
    return "posted"


def time_left(match: PolicyMatch | None, now: dt.datetime | None = None) -> str:
    """The deadline in words for the Slack message and the change page ('' when none)."""
    if match is None or match.due_at is None:
        return ""
    now = now or timezone.now()
    seconds = int((match.due_at - now).total_seconds())
    step = {
        DeadlineStage.WAITING: {
            DefaultOutcome.APPROVE: "then it is approved",
            DefaultOutcome.REVERT: "then it is reverted",
        }.get(match.default_outcome, "then reviewers are reminded"),
        DeadlineStage.REMINDED: "then it is escalated",
    }.get(match.stage, "")
    if seconds <= 0:
        return f"deadline passed ({step.removeprefix('then ')} shortly)"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    left = f"{hours} h {minutes} min" if hours else f"{max(1, minutes)} min"
    return f"{left} left to decide; {step}"


def expire_exceptions(now: dt.datetime) -> int:
    """Send what each newly expired exception approved back for review; how many expired.

    Each exception is taken once (a conditional UPDATE of ``expiry_handled_at``), so two
    sweeps never reopen the same changes twice."""
    done = 0
    for exc_id in PolicyException.objects.filter(
        expires_at__lte=now, expiry_handled_at__isnull=True
    ).values_list("pk", flat=True)[:100]:
        if PolicyException.objects.filter(pk=exc_id, expiry_handled_at__isnull=True).update(
            expiry_handled_at=now
        ):
            reopen_allowed(exc_id, now=now)
            done += 1
    return done


def reopen_allowed(exception_id: int, *, now: dt.datetime | None = None) -> list[int]:
    """The changes the exception auto-approved go back to ``pending`` (the status machine's
    ``auto_approved -> pending`` claim) and through the policy again: their policy decision
    is removed, and the move is audited with the exception and the decision it undid."""
    from approvals.policy.engine import invalidate

    now = now or timezone.now()
    exception = PolicyException.objects.get(pk=exception_id)
    reopened = []
    ids = PolicyMatch.objects.filter(
        exception_id=exception_id,
        tenant_id=exception.tenant_id,
        change__status=ChangeStatus.AUTO_APPROVED,
    ).values_list("pk", flat=True)
    for change_id in list(ids):
        with transaction.atomic():
            if not claim(change_id, [ChangeStatus.AUTO_APPROVED], ChangeStatus.PENDING, now=now):
                continue  # moved on meanwhile (e.g. undone): nothing to reopen
            decisions = Decision.objects.filter(change_id=change_id, via=Via.POLICY)
            removed = list(decisions.values("id", "verdict", "actor_name", "reason", "decided_at"))
            decisions.delete()
            PolicyMatch.objects.filter(pk=change_id).delete()
            record_audit(
                exception.tenant_id,
                AuditAction.UPDATE,
                actor=f"policy (exception #{exception_id} expired)",
                via=Via.POLICY,
                object_type="ingestion.SecurityGroupChange",
                object_id=change_id,
                object_repr=f"change {change_id}",
                before={"status": ChangeStatus.AUTO_APPROVED, "decisions": removed},
                after={
                    "status": ChangeStatus.PENDING,
                    "why": "exception expired",
                    "exception_id": exception_id,
                    "exception": str(exception),
                    "exception_reason": exception.reason,
                },
            )
        reopened.append(change_id)
    invalidate(exception.tenant_id)
    if reopened:
        tenant_id = exception.tenant_id
        transaction.on_commit(lambda: publish.enqueue(APPLY_POLICY, [tenant_id, reopened]))
    return reopened
