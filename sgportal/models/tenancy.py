"""Tenants (customer organizations), their AWS accounts, memberships and Slack links."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from sgportal.tenancy import Role, TenantScopedQuerySet

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
ROLE_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$")

account_id_validator = RegexValidator(ACCOUNT_ID_RE, "An AWS account id is exactly 12 digits.")
role_arn_validator = RegexValidator(
    ROLE_ARN_RE, "Expected an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>."
)
external_id_validator = RegexValidator(
    EXTERNAL_ID_RE, "An ExternalId is 2-1224 characters of letters, digits and +=,.@:/-_."
)
region_validator = RegexValidator(
    r"^[a-z]{2}(-[a-z]+)+-\d$", "Expected an AWS region, e.g. eu-west-1."
)


def new_external_id() -> str:
    """A fresh ExternalId: random, unguessable, in AWS's allowed characters."""
    return f"sgp-{secrets.token_urlsafe(30)}"


class Policy(models.TextChoices):
    REVIEW = "review", "Ask a reviewer"
    AUTO_APPROVE = "auto_approve", "Auto-approve"
    AUTO_REVERT = "auto_revert", "Auto-revert"


class Tenant(models.Model):
    """One customer organization and its settings."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)

    # Ingestion sources (Lake, EventBridge, trail) live in ingestion: LakeSource, ...

    # Remediation: optional hub role in the security account, assumed before each spoke role.
    hub_role_arn = models.CharField(max_length=600, blank=True, validators=[role_arn_validator])
    # The ExternalId of every role sgportal assumes for this tenant: generated here, never
    # typed by a tenant, unique, rotated only by an audited action (sgportal.aws_roles).
    external_id = models.CharField(
        max_length=64,
        unique=True,
        editable=False,
        default=new_external_id,
        validators=[external_id_validator],
    )
    dry_run = models.BooleanField(
        default=False, help_text="Plan and prove permissions with DryRun; change nothing."
    )

    # Slack lives in approvals (SlackWorkspace), next to the code that posts.

    default_policy = models.CharField(max_length=20, choices=Policy.choices, default=Policy.REVIEW)
    decision_timeout_minutes = models.PositiveIntegerField(default=24 * 60)
    deny_reason_required = models.BooleanField(
        default=True,
        help_text="A deny must say why (web, API and Slack alike; a Slack Deny button cannot "
        "carry a reason, so it points to the change page).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()
    tenant_path = "id"

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


VERIFIED_ELSEWHERE = "This AWS account is verified by another tenant."


class AwsAccount(models.Model):
    """A member account of a tenant's organization, with the role used to revert in it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="accounts")
    account_id = models.CharField(max_length=12, validators=[account_id_validator])
    name = models.CharField(max_length=200)
    spoke_role_arn = models.CharField(max_length=600, blank=True, validators=[role_arn_validator])
    regions = models.JSONField(
        default=list, blank=True, help_text='Enabled regions, e.g. ["eu-west-1"].'
    )
    active = models.BooleanField(default=True)
    # A claim is proven, not first-come: set when this tenant's spoke role in the account
    # passed the role check (assumable with this tenant's ExternalId, refused without it),
    # which only the account's owner can arrange; cleared when a later check finds it not
    # enforced, or when the account's tenant, id or spoke role changes (``save``). Reverts
    # need it (remediation.aws), and an account verified by one tenant is refused to others.
    # Only sgportal.aws_roles writes it (``settle_claim``).
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "account_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "account_id"],
                name="uniq_tenant_aws_account",
                violation_error_message="This tenant already has this AWS account.",
            ),
            # Several tenants may *name* an account (an unverified row is inert: no reverts,
            # no claim on its roles); at most one may have proven it is theirs.
            models.UniqueConstraint(
                fields=["account_id"],
                condition=Q(verified_at__isnull=False),
                name="uniq_verified_aws_account",
                violation_error_message=VERIFIED_ELSEWHERE,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"

    def save(self, *args, **kwargs) -> None:
        """A plain save never sets ``verified_at`` on a stored row (only the role check
        does, with a conditional update) and clears it when what was verified changes: the
        tenant (whose ExternalId the check used), the account id or the spoke role."""
        if self._state.adding or self.pk is None:
            return super().save(*args, **kwargs)
        with transaction.atomic():  # the row stays locked until the save commits
            stored = (
                type(self)
                ._default_manager.select_for_update()
                .filter(pk=self.pk)
                .values("tenant_id", "account_id", "spoke_role_arn", "verified_at")
                .first()
            )
            if stored is not None:
                same = (stored["tenant_id"], stored["account_id"], stored["spoke_role_arn"]) == (
                    self.tenant_id,
                    self.account_id,
                    self.spoke_role_arn,
                )
                self.verified_at = stored["verified_at"] if same else None
                update_fields = kwargs.get("update_fields")
                if update_fields is not None and not same:
                    kwargs["update_fields"] = {*update_fields, "verified_at"}
            return super().save(*args, **kwargs)

    def clean(self) -> None:
        if not isinstance(self.regions, list) or not all(isinstance(r, str) for r in self.regions):
            raise ValidationError({"regions": "A list of region names."})
        for region in self.regions:
            try:
                region_validator(region)
            except ValidationError:
                raise ValidationError({"regions": f"{region!r} is not an AWS region."}) from None
        if self.spoke_role_arn and f":{self.account_id}:" not in self.spoke_role_arn:
            raise ValidationError({"spoke_role_arn": "The spoke role must live in this account."})
        if self.account_id and self.verified_elsewhere():
            raise ValidationError({"account_id": VERIFIED_ELSEWHERE})

    def verified_elsewhere(self) -> bool:
        """Whether another tenant has verified this account id (proven it owns it)."""
        return (
            type(self)
            ._default_manager.filter(account_id=self.account_id, verified_at__isnull=False)
            .exclude(tenant_id=self.tenant_id)
            .exists()
        )


class MembershipSource(models.TextChoices):
    GRANT = "grant", "Granted by an admin"
    IDP_GROUP = "idp_group", "Identity-provider group (re-applied at each SSO sign-in)"


class Membership(models.Model):
    """A person's role in a tenant (viewer < approver < admin), or a grant to an email address
    that binds to whoever signs in with that address verified (``sgportal.memberships``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        null=True,
        blank=True,
        help_text="Empty until the person signs in with the granted email address verified.",
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    granted_email = models.EmailField(
        blank=True, help_text="The address this membership was granted to, if by email."
    )
    # Where the role comes from: a grant (by hand) is never touched by SSO; an identity-provider
    # group's membership follows the person's groups at each SSO sign-in (sgportal.sso).
    source = models.CharField(
        max_length=20, choices=MembershipSource.choices, default=MembershipSource.GRANT
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="uniq_membership"),
            models.UniqueConstraint(
                Lower("granted_email"),
                "tenant",
                condition=Q(user__isnull=True),
                name="uniq_pending_membership_email",
                violation_error_message="This address already has a pending membership here.",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(granted_email=""),
                name="membership_names_someone",
            ),
        ]

    def __str__(self) -> str:
        who = self.user.get_username() if self.user_id else self.granted_email
        return f"{who} is {self.role} in {self.tenant}"


class SlackIdentity(models.Model):
    """A Slack user (in a Slack team) linked, after verification, to a portal user."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="slack_identities")
    team_id = models.CharField(max_length=32)
    slack_user_id = models.CharField(max_length=32)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_identities"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    linked_via = models.CharField(max_length=30, blank=True, help_text="How the link was verified.")

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "Slack identities"
        constraints = [
            models.UniqueConstraint(
                fields=["team_id", "slack_user_id"], name="uniq_slack_identity"
            ),
            models.CheckConstraint(condition=~Q(team_id=""), name="slack_identity_team_set"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id}/{self.slack_user_id} -> {self.user}"


class RoleCheckStatus(models.TextChoices):
    ENFORCED = "enforced", "ExternalId required (OK)"
    NOT_ENFORCED = "not_enforced", "Refused: assumable without the ExternalId"
    UNREACHABLE = "unreachable", "Could not be assumed with the ExternalId"


class RoleCheck(models.Model):
    """The last check of one role a tenant gave sgportal: is our ExternalId required?"""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="role_checks")
    role_arn = models.CharField(max_length=600)
    status = models.CharField(max_length=20, choices=RoleCheckStatus.choices)
    detail = models.TextField(blank=True)
    checked_at = models.DateTimeField()

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "role_arn"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "role_arn"], name="uniq_role_check")
        ]

    def __str__(self) -> str:
        return f"{self.role_arn}: {self.get_status_display()}"
