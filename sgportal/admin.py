"""Django admin for tenancy, tokens and the audit log, scoped per tenant (see admin_base)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from sgportal.admin_base import (
    ReadOnlyTenantAdmin,
    TenantScopedAdmin,
)
from sgportal.audit import record_audit, snapshot
from sgportal.memberships import clean_grant_email, grant_membership
from sgportal.models import (
    ApiToken,
    AuditAction,
    AuditEntry,
    AwsAccount,
    Membership,
    SlackIdentity,
    SlackStatus,
    Tenant,
)

SLACK_FIELDS = {"slack_team_id", "slack_channel_id", "slack_bot_token"}

User = get_user_model()


class MembershipGrantForm(forms.ModelForm):
    """Grant a role to an email address: the same answer whether or not anyone has it."""

    email = forms.CharField(
        label="Email",
        help_text="The person's work email. The membership takes effect when they next sign in "
        "with this address verified (by the identity provider, or confirmed by email).",
    )

    class Meta:
        model = Membership
        fields = ["tenant", "role"]

    def clean_email(self) -> str:
        return clean_grant_email(self.cleaned_data.get("email", ""))

    def clean(self):
        data = super().clean()
        if data.get("tenant") and data.get("email"):
            Membership(tenant=data["tenant"], granted_email=data["email"]).validate_constraints()
        return data


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    list_display = [
        "slug",
        "name",
        "active",
        "lake_enabled",
        "slack_status",
        "default_policy",
        "dry_run",
    ]
    search_fields = ["slug", "name"]
    readonly_fields = ["slack_status", "slack_error", "created_at"]
    fieldsets = [
        (
            None,
            {"fields": ["slug", "name", "active", "default_policy", "decision_timeout_minutes"]},
        ),
        (
            "CloudTrail Lake",
            {
                "fields": [
                    "lake_enabled",
                    "lake_event_data_store",
                    "lake_region",
                    "lake_owner_account_id",
                    "lake_read_role_arn",
                    "lake_read_external_id",
                ]
            },
        ),
        ("Remediation", {"fields": ["hub_role_arn", "hub_external_id", "dry_run"]}),
        (
            "Slack",
            {
                "fields": [
                    "slack_team_id",
                    "slack_channel_id",
                    "slack_bot_token",
                    "slack_status",
                    "slack_error",
                ]
            },
        ),
        ("EventBridge", {"fields": ["eventbridge_secret"]}),
        (None, {"fields": ["created_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["slug", "active"]
        return fields

    def has_add_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def save_model(self, request, obj, form, change) -> None:
        # Editing the Slack settings is how an admin fixes a "broken" Slack: posting resumes.
        if SLACK_FIELDS & set(form.changed_data) or not change:
            configured = bool(obj.slack_bot_token and obj.slack_channel_id and obj.slack_team_id)
            obj.slack_status = SlackStatus.OK if configured else SlackStatus.UNCONFIGURED
            obj.slack_error = ""
        super().save_model(request, obj, form, change)


@admin.register(AwsAccount)
class AwsAccountAdmin(TenantScopedAdmin):
    list_display = ["account_id", "name", "tenant", "active", "spoke_role_arn"]
    list_filter = ["active"]
    search_fields = ["account_id", "name"]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    """A tenant admin grants roles by email (``sgportal.memberships``), changes a role, and
    revokes. Whom and where a membership is for is fixed once granted: revoke and grant anew."""

    list_display = ["person", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["granted_email", "user__username", "user__email"]

    @admin.display(description="Person")
    def person(self, obj: Membership) -> str:
        if obj.user_id:
            return obj.user.get_username()
        return f"{obj.granted_email} (binds at their next sign-in)"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["email", "tenant", "role"]
        return ["person", "granted_email", "tenant", "role"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["person", "granted_email", "tenant"] if obj is not None else fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MembershipGrantForm
            kwargs["fields"] = ["tenant", "role"]
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        granted = grant_membership(
            tenant=form.cleaned_data["tenant"],
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            actor=request.user,
        )
        obj.pk, obj.user_id, obj.granted_email = granted.pk, granted.user_id, granted.granted_email
        obj.created_at = granted.created_at


@admin.register(SlackIdentity)
class SlackIdentityAdmin(TenantScopedAdmin):
    """Slack identities come only from the signed link flow (approvals.slack.links), where the
    person proves both sides; here an admin sees them and may unlink (delete), nothing else —
    not even a superuser, since an edited link would decide in someone else's name."""

    list_display = ["team_id", "slack_user_id", "user", "tenant", "verified_at", "linked_via"]
    search_fields = ["slack_user_id", "user__username"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdmin):
    """Tokens are created with `manage.py createtoken` (the secret is shown once); here they
    can be seen and revoked."""

    list_display = [
        "name",
        "tenant",
        "key_id",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = [
        "tenant",
        "name",
        "key_id",
        "scopes",
        "created_by_name",
        "created_at",
        "last_used_at",
    ]
    exclude = ["secret_hash"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "tenant",
        "seq",
        "created_at",
        "actor_name",
        "via",
        "action",
        "object_type",
        "object_repr",
    ]
    list_filter = ["action", "via"]
    search_fields = ["object_repr", "actor_name", "request_id"]


admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(UserAdmin):
    """People's accounts belong to them and their identity provider: only superusers see or
    change a user (password, email, username, active and staff flags). A tenant admin grants
    and revokes memberships (``MembershipAdmin``) and never gains power over an account."""

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            stored = User.objects.get(pk=obj.pk) if change else None
            before = snapshot(stored) if stored else None
            super().save_model(request, obj, form, change)
            after = snapshot(obj)
            for data in (before, after):
                if data:
                    data.pop("password", None)
            tenant_ids = Membership.objects.filter(user=obj).values_list("tenant_id", flat=True)
            for tenant_id in tenant_ids:
                record_audit(
                    tenant_id,
                    AuditAction.UPDATE if change else AuditAction.CREATE,
                    actor=request.user,
                    via="admin",
                    obj=obj,
                    object_repr=obj.get_username(),
                    before=before,
                    after=after,
                )
