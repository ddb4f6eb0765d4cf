"""SecurityGroupChange: one CloudTrail record of interest, from whichever source brought it."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.db import models

from sgportal.fields import JSONTextField
from sgportal.models import AwsAccount, Tenant
from sgportal.models.tenancy import account_id_validator, region_validator, role_arn_validator
from sgportal.tenancy import TenantScopedQuerySet
from sgportal.validators import event_data_store_id


class ChangeStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    REVERTING = "reverting", "Reverting"
    REVERTED = "reverted", "Reverted"
    REVERT_FAILED = "revert_failed", "Revert failed"
    AUTO_APPROVED = "auto_approved", "Auto-approved"
    AUTO_REVERTED = "auto_reverted", "Auto-reverted"
    EXPIRED = "expired", "Expired"
    INFORMATIONAL = "informational", "Informational"
    OURS = "ours", "Our own revert"
    UNPARSEABLE = "unparseable", "Could not be parsed"


# Every move of a stored change's status, and who makes it. A change starts as pending,
# informational, ours or unparseable (the parser and the store); from there only these
# moves exist, each made by ``ingestion.status.claim`` (a conditional UPDATE).
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    # approvals.actions.decide: a verdict on a pending change.
    ChangeStatus.PENDING: frozenset(
        {ChangeStatus.APPROVED, ChangeStatus.AUTO_APPROVED, ChangeStatus.DENIED}
    ),
    # remediation.attempts.start_revert: a worker claims the denial.
    ChangeStatus.DENIED: frozenset({ChangeStatus.REVERTING}),
    # remediation.attempts.finish: the revert's confirmed outcome; a dry run leaves the
    # change denied again.
    ChangeStatus.REVERTING: frozenset(
        {
            ChangeStatus.REVERTED,
            ChangeStatus.AUTO_REVERTED,
            ChangeStatus.REVERT_FAILED,
            ChangeStatus.DENIED,
        }
    ),
    # remediation.attempts.finish: an undone revert leaves the change approved.
    ChangeStatus.REVERTED: frozenset({ChangeStatus.APPROVED}),
    ChangeStatus.AUTO_REVERTED: frozenset({ChangeStatus.APPROVED}),
    # approvals.policy.deadlines.reopen_allowed: when an exception expires, what it
    # auto-approved comes back for review (audited with the exception).
    ChangeStatus.AUTO_APPROVED: frozenset({ChangeStatus.PENDING}),
}
REVERTED_STATUSES = (ChangeStatus.REVERTED, ChangeStatus.AUTO_REVERTED)


class Source(models.TextChoices):
    LAKE = "lake", "CloudTrail Lake"
    EVENTBRIDGE = "eventbridge", "EventBridge"
    TRAIL = "trail", "Organization trail (S3)"
    MANUAL = "manual", "Manual / test"


# Each source is one bit of SecurityGroupChange.sources: the change records every source
# that delivered it, and a second delivery is one bitwise OR (see ingestion.store).
SOURCE_BITS = {Source.LAKE: 1, Source.EVENTBRIDGE: 2, Source.TRAIL: 4, Source.MANUAL: 8}


def source_names(mask: int) -> list[str]:
    """The sources named by a ``sources`` bit mask, in Source order."""
    return [source for source, bit in SOURCE_BITS.items() if mask & bit]


class EventName(models.TextChoices):
    """The CloudTrail events sgportal handles (also the EC2 operations that revert them)."""

    AUTHORIZE_INGRESS = "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupIngress"
    AUTHORIZE_EGRESS = "AuthorizeSecurityGroupEgress", "AuthorizeSecurityGroupEgress"
    REVOKE_INGRESS = "RevokeSecurityGroupIngress", "RevokeSecurityGroupIngress"
    REVOKE_EGRESS = "RevokeSecurityGroupEgress", "RevokeSecurityGroupEgress"
    MODIFY_RULES = "ModifySecurityGroupRules", "ModifySecurityGroupRules"
    CREATE_GROUP = "CreateSecurityGroup", "CreateSecurityGroup"
    DELETE_GROUP = "DeleteSecurityGroup", "DeleteSecurityGroup"


# Event name -> the direction of the rules it adds / removes.
AUTHORIZE_EVENTS = {EventName.AUTHORIZE_INGRESS: "ingress", EventName.AUTHORIZE_EGRESS: "egress"}
REVOKE_EVENTS = {EventName.REVOKE_INGRESS: "ingress", EventName.REVOKE_EGRESS: "egress"}
# Events that change rules: denying one makes sgportal change the group back.
REVERTIBLE_EVENTS = frozenset({*AUTHORIZE_EVENTS, *REVOKE_EVENTS, EventName.MODIFY_RULES})
# Events about a whole group: informational unless a policy says otherwise, never reverted.
GROUP_EVENTS = frozenset({EventName.CREATE_GROUP, EventName.DELETE_GROUP})
# Events whose record states rules as they are after the call (seed the rule inventory).
SEEDING_EVENTS = {
    EventName.AUTHORIZE_INGRESS: "added",
    EventName.AUTHORIZE_EGRESS: "added",
    EventName.MODIFY_RULES: "modified",
}


# --- API feed positions (issue 14; see docs/api.md "Exactly once") -----------------------
class CurrentTransactionId(models.Func):
    """The writing transaction's 64-bit id on PostgreSQL (pg_current_xact_id); 0 elsewhere
    (SQLite runs one writer at a time, so the row id alone is already in commit order)."""

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        return "0", []

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


class SecurityGroupChange(models.Model):
    """One security-group API call seen in CloudTrail, unique per (tenant, event_id)."""

    # Every index costs each insert: the tenant is the first column of the unique
    # (tenant, event_id) and of (tenant, status), so it needs none of its own.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, related_name="changes", db_index=False
    )
    event_id = models.CharField(max_length=64)
    source = models.CharField(
        max_length=20, choices=Source.choices, help_text="The source that delivered it first."
    )
    sources = models.PositiveSmallIntegerField(
        default=0, help_text="Every source that delivered it (bits of SOURCE_BITS)."
    )
    ingested_at = models.DateTimeField(auto_now_add=True, db_index=True)

    event_name = models.CharField(max_length=64)
    event_time = models.DateTimeField(null=True, blank=True)
    aws_account_id = models.CharField(max_length=12, blank=True, help_text="recipientAccountId")
    account = models.ForeignKey(
        AwsAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    region = models.CharField(max_length=30, blank=True)
    request_id = models.CharField(
        max_length=100, blank=True, help_text="CloudTrail requestID (matches an AWS request id)."
    )

    actor_type = models.CharField(max_length=40, blank=True)
    actor_arn = models.CharField(max_length=600, blank=True)
    actor_account_id = models.CharField(max_length=12, blank=True)
    session_issuer_arn = models.CharField(max_length=600, blank=True)
    invoked_by = models.CharField(
        max_length=200, blank=True, help_text="userIdentity.invokedBy: the AWS service that called."
    )
    via_console = models.BooleanField(default=False)
    via_spoke_role = models.BooleanField(
        default=False,
        help_text="Made with a tenant's spoke (revert) role: ours only when it matches one of "
        "sgportal's revert attempts, else reviewed at the highest severity.",
    )
    source_ip = models.CharField(max_length=100, blank=True)
    user_agent = models.CharField(max_length=1000, blank=True)

    group_id = models.CharField(max_length=64, blank=True)
    group_name = models.CharField(max_length=300, blank=True)
    vpc_id = models.CharField(max_length=64, blank=True)
    # list[ingestion.rules.Rule.to_json()]; JSON rather than a child table so a page of
    # records is one bulk INSERT ... ON CONFLICT DO NOTHING.
    rules = models.JSONField(default=list, blank=True)

    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    parse_error = models.TextField(blank=True, help_text="Why the record could not be parsed.")
    parse_warnings = models.TextField(
        blank=True, help_text="What the parser dropped from a record it could otherwise read."
    )
    raw = JSONTextField(help_text="The CloudTrail record as received.")
    status = models.CharField(
        max_length=20, choices=ChangeStatus.choices, default=ChangeStatus.PENDING, db_index=True
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # Rated at ingest by the rater approvals registers (ingestion.store.register_severity_rater)
    # so the web queue can filter and sort on it, then set by the policy step (issue 15):
    # 0 unrated, 1 low .. 4 critical, 5 made with sgportal's revert role outside sgportal.
    # The matched rule is approvals.PolicyMatch.
    severity = models.PositiveSmallIntegerField(default=0)
    # --- API feed positions (issue 14): set by the database, never by Python. -----------
    # (ingest_txid, id) is the ingestion order the API's cursor walks; (status_txid, id)
    # the order of status moves (a trigger sets status_txid whenever status changes).
    ingest_txid = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False)
    status_txid = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_id"], name="uniq_change_per_tenant_event"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "status"], name="change_tenant_status"),
            # The web queue sorted by severity (issue 13).
            models.Index(fields=["severity", "ingested_at"], name="change_severity_age"),
            # API feeds (issue 14): a cursor page is one index range scan per tenant.
            models.Index(fields=["tenant", "ingest_txid", "id"], name="change_feed_ingest"),
            models.Index(
                fields=["tenant", "status_txid", "id"],
                name="change_feed_status",
                condition=models.Q(status_txid__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} {self.group_id or '?'} ({self.event_id[:8]})"

    def save(self, *args, **kwargs) -> None:
        if not self.sources and self.source:  # rows made outside ingestion.store
            self.sources = SOURCE_BITS.get(self.source, 0)
        super().save(*args, **kwargs)

    @property
    def source_list(self) -> list[str]:
        """Every source that delivered this change."""
        return source_names(self.sources)


# --- sources: one row per tenant and kind, each with its settings and its health --------
class SourceHealth(models.Model):
    """Abstract: a source's switch and health (what it delivered, when, its last error)."""

    enabled = models.BooleanField(default=False)
    last_delivery_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When it last delivered an event."
    )
    events_delivered = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Security-group events it delivered (repeats too)."
    )
    new_changes = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Changes it was the first to deliver."
    )
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    source: str = ""  # the Source it stands for


class LakeSource(SourceHealth):
    """A tenant's CloudTrail Lake store: settings, watermark and health."""

    source = Source.LAKE
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="lake_source")
    event_data_store = models.CharField(
        max_length=300,
        blank=True,
        help_text="Event data store ARN or id of the organization's CloudTrail Lake store.",
    )
    region = models.CharField(max_length=30, blank=True, validators=[region_validator])
    owner_account_id = models.CharField(
        max_length=12,
        blank=True,
        validators=[account_id_validator],
        help_text="Account that owns the event data store, when it is not the read role's.",
    )
    read_role_arn = models.CharField(max_length=600, blank=True, validators=[role_arn_validator])
    watermark = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Every event before this time has been read and stored.",
    )
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "CloudTrail Lake source"

    def __str__(self) -> str:
        return f"{self.tenant}: Lake {'on' if self.enabled else 'off'}"

    def clean(self) -> None:
        if self.event_data_store:
            try:
                store_id = event_data_store_id(self.event_data_store)
            except ValueError:
                raise ValidationError(
                    {"event_data_store": "Not an event data store ARN or id."}
                ) from None
            if self.store_taken(store_id):
                raise ValidationError(
                    {"event_data_store": "This event data store belongs to another tenant."}
                )
        if self.enabled and not (self.event_data_store and self.region):
            raise ValidationError("Lake polling needs an event data store and a region.")

    def store_taken(self, store_id: str) -> bool:
        """Whether another tenant reads the event data store ``store_id`` (ARN or bare id)."""
        others = LakeSource.objects.exclude(tenant_id=self.tenant_id).exclude(event_data_store="")
        for value in others.values_list("event_data_store", flat=True):
            try:
                if event_data_store_id(value) == store_id:
                    return True
            except ValueError:
                continue
        return False


def hash_secret(text: str) -> str:
    """The stored form of an EventBridge secret (random, 256 bits: a plain SHA-256 suffices)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EventBridgeSource(SourceHealth):
    """A tenant's EventBridge API destination: the hashed secret and health."""

    source = Source.EVENTBRIDGE
    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, related_name="eventbridge_source"
    )
    secret_hash = models.CharField(max_length=64, blank=True, editable=False)
    secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)

    audit_masked_fields = ("secret_hash",)  # never in an audit snapshot

    class Meta:
        verbose_name = "EventBridge source"

    def __str__(self) -> str:
        return f"{self.tenant}: EventBridge {'on' if self.enabled else 'off'}"

    def secret_matches(self, text: str) -> bool:
        """Constant-time comparison of a presented secret with the stored hash."""
        return bool(self.secret_hash) and hmac.compare_digest(hash_secret(text), self.secret_hash)


def new_eventbridge_secret() -> str:
    """A fresh secret for the X-SGPortal-Secret header (shown once, stored hashed)."""
    return f"sgpeb_{secrets.token_urlsafe(32)}"


class TrailSource(SourceHealth):
    """A tenant's organization trail: the SQS queue its S3 notifications reach, the read role,
    and health (files read and skipped, dead letters)."""

    source = Source.TRAIL
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="trail_source")
    queue_url = models.URLField(
        max_length=500, blank=True, help_text="SQS queue receiving the trail bucket's notices."
    )
    region = models.CharField(max_length=30, blank=True, validators=[region_validator])
    read_role_arn = models.CharField(max_length=600, blank=True, validators=[role_arn_validator])
    bucket = models.CharField(
        max_length=63, blank=True, help_text="The trail's bucket (for backfills)."
    )
    prefix = models.CharField(
        max_length=500, blank=True, help_text="Key prefix of the trail's files, if any."
    )
    files_read = models.PositiveBigIntegerField(default=0, editable=False)
    files_skipped = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Test events, digests and non-CloudTrail objects."
    )
    # files_skipped by reason (ingestion.trail.SKIP_REASONS), for /metrics.
    skipped_test_events = models.PositiveBigIntegerField(default=0, editable=False)
    skipped_digests = models.PositiveBigIntegerField(default=0, editable=False)
    skipped_not_cloudtrail = models.PositiveBigIntegerField(default=0, editable=False)
    records_scanned = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="CloudTrail records in the files read (all events)."
    )
    last_file_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When a log file was last read."
    )

    class Meta:
        verbose_name = "Organization trail source"
        constraints = [
            models.UniqueConstraint(
                fields=["queue_url"],
                condition=~models.Q(queue_url=""),
                name="uniq_trail_queue",
                violation_error_message="This queue is read for another tenant.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant}: trail {'on' if self.enabled else 'off'}"

    def clean(self) -> None:
        if self.enabled and not (self.queue_url and self.region):
            raise ValidationError("Reading the trail needs a queue URL and a region.")


class TrailDeadLetter(models.Model):
    """A trail notice whose file failed on every try: parked here (and gone from the queue)
    for an admin to look at, never dropped silently."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="dead_letters")
    message_id = models.CharField(max_length=100)
    bucket = models.CharField(max_length=63, blank=True)
    key = models.CharField(max_length=1024, blank=True)
    receive_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    body = models.TextField(blank=True, help_text="The SQS message as received.")
    parked_at = models.DateTimeField()

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-parked_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "message_id"], name="uniq_dead_letter")
        ]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else self.message_id


class PollStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"


class PollKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled poll"
    BACKFILL = "backfill", "Backfill"


class PollRun(models.Model):
    """One CloudTrail Lake query over a time window for one tenant, and what it brought."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="poll_runs")
    kind = models.CharField(max_length=20, choices=PollKind.choices, default=PollKind.SCHEDULED)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    query_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=20, choices=PollStatus.choices, default=PollStatus.RUNNING, db_index=True
    )
    rows_read = models.PositiveIntegerField(default=0)
    new_changes = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    unparseable = models.PositiveIntegerField(default=0)
    bytes_scanned = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-started_at"], name="pollrun_tenant_started")]

    def __str__(self) -> str:
        window = f"{self.window_start:%Y-%m-%d %H:%M}-{self.window_end:%H:%M}"
        return f"{self.tenant} {window} {self.status}"
