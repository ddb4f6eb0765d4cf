"""SecurityGroupChange: one CloudTrail record of interest, from whichever source brought it."""

from __future__ import annotations

from django.db import models

from sgportal.fields import JSONTextField
from sgportal.models import AwsAccount, Tenant
from sgportal.tenancy import TenantScopedQuerySet


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


class Source(models.TextChoices):
    LAKE = "lake", "CloudTrail Lake"
    EVENTBRIDGE = "eventbridge", "EventBridge"
    TRAIL = "trail", "Organization trail (S3)"
    MANUAL = "manual", "Manual / test"


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
    source = models.CharField(max_length=20, choices=Source.choices)
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
    # --- severity (issue 13): stored so the web queue can filter and sort on it. -----------
    # 5 = made with sgportal's revert role, 4 critical .. 1 low, 0 = not rated. Set at ingest
    # by the rater approvals registers (see ingestion.store.register_severity_rater); a
    # policy may set it too. A plain small integer: approvals.describe holds the words.
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


class LakeCursor(models.Model):
    """How far a tenant's CloudTrail Lake store has been read completely (the watermark)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="lake_cursor")
    watermark = models.DateTimeField(
        null=True, blank=True, help_text="Every event before this time has been read and stored."
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.tenant}: {self.watermark or 'never polled'}"


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
