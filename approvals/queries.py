"""Read-side helpers of the web pages (issue 13): what the queue, the change page, the
dashboard and the audit and ingestion pages show. Every query starts from a scoped queryset
(``for_user``); views only render what these return."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from approvals import wording
from approvals.filtersets import QueueFilterSet
from approvals.models import Decision, Verdict
from approvals.rating import severity_for_level
from ingestion.models import ChangeStatus, LakeSource, PollRun, PollStatus, SecurityGroupChange
from ingestion.sources import SourceReport, source_reports
from sgportal.models import AuditEntry, Tenant
from sgportal.tenancy import Role, has_role, tenant_ids_for

CHANGE_LABEL = SecurityGroupChange._meta.label
# Statuses during which a revert may still move: the change page keeps refreshing itself.
MOVING = (ChangeStatus.DENIED, ChangeStatus.REVERTING)
REVERTED = (ChangeStatus.REVERTED, ChangeStatus.AUTO_REVERTED)


def severity_of(change: SecurityGroupChange) -> wording.Severity:
    """The stored rating when there is one (what filters and sorts use), else the words'."""
    return severity_for_level(change.severity) or wording.severity_of(change)


def waited(change: SecurityGroupChange, now: dt.datetime | None = None) -> dt.timedelta | None:
    """How long a pending change has waited since it arrived (None once decided)."""
    if change.status != ChangeStatus.PENDING:
        return None
    return (now or timezone.now()) - change.ingested_at


def short_duration(delta: dt.timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass
class QueueRow:
    change: SecurityGroupChange
    severity: wording.Severity
    rules: list[str]
    more: int
    account: str
    tool: str
    waited: str


@dataclass
class Queue:
    filterset: QueueFilterSet
    page: Any
    rows: list[QueueRow]
    counts: list[tuple[str, str, int]]  # (status, label, count) for the user's changes
    total: int
    can_decide: bool


def queue(user, params, *, page_number: Any = 1, page_size: int = 50) -> Queue:
    """The queue page: the user's changes filtered, searched and sorted, one page of rows,
    and how many changes each status holds (under the same filters but the status)."""
    from django.core.paginator import Paginator

    scoped = SecurityGroupChange.objects.for_user(user)
    filterset = QueueFilterSet(params or None, queryset=scoped, request=_Request(user))
    if filterset.is_bound and not filterset.form.is_valid():
        ordered = scoped.none()  # a filter not understood shows nothing, not everything
    else:
        ordered = filterset.ordered().select_related("tenant", "account")
    counts = status_counts(filterset, scoped)
    paginator = Paginator(ordered.defer("raw"), page_size)
    # The total is known from the per-status counts: no second COUNT over the same rows.
    valid = filterset.is_bound and filterset.form.is_valid()
    status = filterset.form.cleaned_data.get("status") if valid else None
    if ordered.query.is_empty():
        paginator.count = 0
    elif status:
        paginator.count = next((n for value, _label, n in counts if value == status), 0)
    else:
        paginator.count = sum(n for _value, _label, n in counts)
    page = paginator.get_page(page_number)
    now = timezone.now()
    rows = [
        QueueRow(
            change=change,
            severity=severity_of(change),
            rules=wording.rules_in_words(change, limit=3),
            more=max(0, len(change.rules or []) - 3),
            account=wording.account_of(change),
            tool=wording.tool_of(change),
            waited=short_duration(waited(change, now)),
        )
        for change in page
    ]
    return Queue(
        filterset=filterset,
        page=page,
        rows=rows,
        counts=counts,
        total=paginator.count,
        can_decide=tenant_ids_for(user, Role.APPROVER).exists(),
    )


class _Request:
    """What the filterset's callable querysets read from a request: the user."""

    def __init__(self, user):
        self.user = user


def status_counts(filterset: QueueFilterSet, scoped) -> list[tuple[str, str, int]]:
    """Changes per status under the current filters (all but the status itself)."""
    if filterset.is_bound and filterset.form.is_valid():
        data = filterset.form.cleaned_data
        unfiltered = QueueFilterSet(
            {**filterset.data.dict(), "status": ""}
            if hasattr(filterset.data, "dict")
            else {**filterset.data, "status": ""},
            queryset=scoped,
            request=filterset.request,
        )
        base = unfiltered.qs if data.get("status") else filterset.qs
    else:
        base = scoped
    counted = dict(base.order_by().values_list("status").annotate(n=Count("id")))
    return [(value, label, counted.get(value, 0)) for value, label in ChangeStatus.choices]


# --- the change page -------------------------------------------------------------------


@dataclass
class Story:
    """Everything the change page tells about one change."""

    change: SecurityGroupChange
    severity: wording.Severity
    rules: list[str]
    account: str
    group: str
    tool: str
    mfa: str
    decisions: list
    attempts: list
    audit: list
    current_rules: list[dict]
    same_group: list
    same_actor: list
    can_decide: bool
    can_undo: bool
    undo_rules: list[str]
    console_links: dict[str, str]
    raw_pretty: str
    moving: bool
    extra: dict = field(default_factory=dict)


def _mfa(change: SecurityGroupChange) -> str:
    raw = change.raw if isinstance(change.raw, dict) else {}
    attributes = ((raw.get("userIdentity") or {}).get("sessionContext") or {}).get("attributes")
    value = str((attributes or {}).get("mfaAuthenticated", "")).lower()
    return {"true": "yes", "false": "no"}.get(value, "not recorded")


def console_links(change: SecurityGroupChange) -> dict[str, str]:
    """The group in the EC2 console and the event in CloudTrail's event history."""
    region = change.region or "us-east-1"
    links = {}
    if change.group_id:
        links["group"] = (
            f"https://{region}.console.aws.amazon.com/ec2/home?region={region}"
            f"#SecurityGroup:groupId={change.group_id}"
        )
    if change.event_id:
        links["event"] = (
            f"https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}"
            f"#/events/{change.event_id}"
        )
    return links


def attempts_of(change: SecurityGroupChange) -> list:
    """The change's revert (and undo) attempts, oldest first (remediation's rows, read
    through the relation: approvals never imports remediation)."""
    return list(change.revert_attempts.order_by("started_at", "id"))


def audit_of(change: SecurityGroupChange) -> list[AuditEntry]:
    """Every audit entry about the change (decisions, refusals, revert attempts), in order."""
    return list(
        AuditEntry.objects.for_tenant(change.tenant_id)
        .filter(object_type=CHANGE_LABEL, object_id=str(change.pk))
        .order_by("seq")
    )


def current_rules(change: SecurityGroupChange) -> list[dict]:
    """The group's rules as the inventory last saw them (present ones)."""
    if not (change.account_id and change.group_id):
        return []
    rows = change.account.inventory_rules.filter(
        region=change.region, group_id=change.group_id, present=True
    ).order_by("rule_id")
    return [
        {
            "rule_id": row.rule_id,
            "words": wording.rule_in_words({**row.definition, "action": "rule"}),
        }
        for row in rows[:200]
        if isinstance(row.definition, dict)
    ]


RECENT = dt.timedelta(days=30)


def _related(change: SecurityGroupChange, **match) -> list:
    """The latest changes of the last 30 days like ``match`` (an index range on arrival)."""
    since = (change.ingested_at or timezone.now()) - RECENT
    others = (
        SecurityGroupChange.objects.for_tenant(change.tenant_id)
        .filter(ingested_at__gte=since, **match)
        .exclude(pk=change.pk)
        .only("id", "event_name", "status", "ingested_at", "event_time", "group_id", "actor_arn")
        .order_by("-ingested_at", "-id")
    )
    return list(others[:10])


def undo_rules(change: SecurityGroupChange, attempts: list) -> list[str]:
    """What an undo puts back: the calls of the last finished revert, reversed, in words."""
    done = [
        a
        for a in attempts
        if a.kind == "revert" and a.status == "done" and a.outcome in ("reverted", "auto_reverted")
    ]
    if not done:
        return []
    calls = (done[-1].plan or {}).get("calls") or []
    summaries = [str(call.get("summary", "")) for call in calls if call.get("summary")]
    return [f"undo of: {summary}" for summary in summaries] or wording.rules_in_words(change)


def story(change: SecurityGroupChange, user) -> Story:
    """The change page's content for ``user`` (who must be able to see the change)."""
    import json

    attempts = attempts_of(change)
    decisions = list(change.decisions.order_by("decided_at"))
    approver = has_role(user, change.tenant_id, Role.APPROVER)
    admin = approver and has_role(user, change.tenant_id, Role.ADMIN)
    has_undo = any(a.kind == "undo" for a in attempts) or any(
        d.verdict == Verdict.UNDO_REVERT for d in decisions
    )
    raw = change.raw
    return Story(
        change=change,
        severity=severity_of(change),
        rules=wording.rules_in_words(change),
        account=wording.account_of(change),
        group=wording.group_of(change),
        tool=wording.tool_of(change),
        mfa=_mfa(change),
        decisions=decisions,
        attempts=attempts,
        audit=audit_of(change),
        current_rules=current_rules(change),
        same_group=_related(change, group_id=change.group_id) if change.group_id else [],
        same_actor=_related(change, actor_arn=change.actor_arn) if change.actor_arn else [],
        can_decide=approver and change.status == ChangeStatus.PENDING,
        can_undo=admin and change.status in REVERTED and not has_undo,
        undo_rules=undo_rules(change, attempts) if admin and change.status in REVERTED else [],
        console_links=console_links(change),
        raw_pretty=json.dumps(raw, indent=2, sort_keys=True, default=str)[:200_000],
        moving=change.status in MOVING,
    )


# --- the dashboard ---------------------------------------------------------------------


@dataclass
class Dashboard:
    days: list[dt.date]
    per_day: list[dict]  # {"day": date, "counts": {level: n}, "total": n}
    levels: list[wording.Severity]
    pending: int
    oldest_pending: SecurityGroupChange | None
    oldest_waited: str
    median_decision: str
    decisions_counted: int
    reverts_week: int
    failures_week: int
    top_actors: list[tuple[str, int]]
    top_accounts: list[tuple[str, int]]


def dashboard(user, *, days: int = 14, now: dt.datetime | None = None) -> Dashboard:
    """Volumes by day and severity, pending work, time to decision and reverts of the
    user's tenants."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)
    changes = SecurityGroupChange.objects.for_user(user).order_by()
    grid = (
        changes.filter(ingested_at__gte=start)
        .annotate(day=TruncDate("ingested_at", tzinfo=dt.UTC))
        .values_list("day", "severity")
        .annotate(n=Count("id"))
    )
    counts: dict[dt.date, dict[int, int]] = {}
    for day, level, n in grid:
        counts.setdefault(day, {})[level] = counts.get(day, {}).get(level, 0) + n
    day_list = [first + dt.timedelta(days=i) for i in range(days)]
    per_day = [
        {"day": d, "counts": counts.get(d, {}), "total": sum(counts.get(d, {}).values())}
        for d in day_list
    ]
    pending = changes.filter(status=ChangeStatus.PENDING)
    oldest = pending.select_related("account").order_by("ingested_at", "id").defer("raw").first()
    month = now - dt.timedelta(days=30)
    decided = (
        Decision.objects.for_user(user)
        .filter(
            decided_at__gte=month,
            verdict__in=[Verdict.APPROVE, Verdict.DENY],
        )
        .exclude(via="policy")
        .annotate(waited=F("decided_at") - F("change__ingested_at"))
        .values_list("waited", flat=True)[:5000]
    )
    waits = [w.total_seconds() for w in decided if w is not None]
    week = now - dt.timedelta(days=7)
    outcomes = dict(
        changes.filter(revert_attempts__finished_at__gte=week)
        .values_list("revert_attempts__outcome")
        .annotate(n=Count("revert_attempts"))
    )
    recent = changes.filter(ingested_at__gte=month)
    top_actors = list(
        recent.exclude(actor_arn="")
        .values_list("actor_arn")
        .annotate(n=Count("id"))
        .order_by("-n", "actor_arn")[:5]
    )
    top_accounts = [
        (f"{name} ({aid})" if name else aid or "unknown", n)
        for aid, name, n in recent.values_list("aws_account_id", "account__name")
        .annotate(n=Count("id"))
        .order_by("-n", "aws_account_id")[:5]
    ]
    return Dashboard(
        days=day_list,
        per_day=per_day,
        levels=sorted(wording.SEVERITIES, key=lambda s: s.level),
        pending=pending.count(),
        oldest_pending=oldest,
        oldest_waited=short_duration(waited(oldest, now)) if oldest else "",
        median_decision=short_duration(
            dt.timedelta(seconds=statistics.median(waits)) if waits else None
        ),
        decisions_counted=len(waits),
        reverts_week=outcomes.get("reverted", 0) + outcomes.get("auto_reverted", 0),
        failures_week=outcomes.get("revert_failed", 0) + outcomes.get("undo_failed", 0),
        top_actors=top_actors,
        top_accounts=top_accounts,
    )


# --- audit and ingestion pages ---------------------------------------------------------


def audit_tenants(user) -> list[Tenant]:
    """The tenants whose audit log the user may read (approvers and admins)."""
    return list(Tenant.objects.filter(pk__in=tenant_ids_for(user, Role.APPROVER)).order_by("name"))


def audit_entries(user, params) -> Any:
    """The audit entries the user may read, newest first, filtered by tenant, action,
    actor and object."""
    entries = AuditEntry.objects.for_user(user, Role.APPROVER).select_related("tenant")
    if any("\x00" in params.get(name, "") for name in ("action", "actor", "object")):
        return entries.none().order_by("-created_at", "-id")  # no entry holds a NUL
    tenant = params.get("tenant", "")
    if tenant.isdigit():
        entries = entries.filter(tenant_id=int(tenant))
    action = params.get("action", "")
    if action:
        entries = entries.filter(action=action)
    actor = params.get("actor", "").strip()
    if actor:
        entries = entries.filter(actor_name__icontains=actor[:200])
    obj = params.get("object", "").strip()
    if obj:
        entries = entries.filter(Q(object_repr__icontains=obj[:200]) | Q(object_id=obj[:64]))
    return entries.order_by("-created_at", "-id")


def verify_tenants(user) -> list:
    """Recompute the HMAC chain of each tenant the user may audit (on request: it walks
    every entry)."""
    from sgportal.audit import verify_chain

    return [verify_chain(tenant) for tenant in audit_tenants(user)]


@dataclass
class IngestionStatus:
    tenant: Tenant
    watermark: dt.datetime | None
    runs: list[PollRun]
    last_success: dt.datetime | None
    last_failure: PollRun | None
    unparseable_day: int
    last_change: dt.datetime | None
    sources: list[SourceReport]


def ingestion_status(user, *, now: dt.datetime | None = None) -> list[IngestionStatus]:
    """Per tenant the user administers: each source's health and what only it delivered,
    Lake watermark, recent poll runs, last success and failure, and unreadable records of
    the last day."""
    now = now or timezone.now()
    tenants = Tenant.objects.filter(pk__in=tenant_ids_for(user, Role.ADMIN)).order_by("name")
    result = []
    for tenant in tenants:
        runs = PollRun.objects.for_tenant(tenant).order_by("-started_at", "-id")
        lake = LakeSource.objects.filter(tenant=tenant).first()
        changes = SecurityGroupChange.objects.for_tenant(tenant)
        result.append(
            IngestionStatus(
                tenant=tenant,
                watermark=lake.watermark if lake else None,
                runs=list(runs[:10]),
                last_success=runs.filter(status=PollStatus.SUCCEEDED)
                .values_list("finished_at", flat=True)
                .first(),
                last_failure=runs.exclude(
                    status__in=[PollStatus.SUCCEEDED, PollStatus.RUNNING]
                ).first(),
                unparseable_day=changes.filter(
                    status=ChangeStatus.UNPARSEABLE, ingested_at__gte=now - dt.timedelta(days=1)
                ).count(),
                last_change=changes.order_by("-ingested_at")
                .values_list("ingested_at", flat=True)
                .first(),
                sources=source_reports(tenant),
            )
        )
    return result
