"""Django admin for tenancy, tokens and the audit log, scoped per tenant (see admin_base)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from sgportal.admin_base import (
    ReadOnlyTenantAdmin,
    TenantScopedAdmin,
)
from sgportal.audit import record_audit, snapshot
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


def users_pickable_by(request):
    """Users a membership or Slack link may name: any active user but superusers."""
    users = User.objects.filter(is_active=True)
    return users if request.user.is_superuser else users.filter(is_superuser=False)


class UserByIdentifierField(forms.ModelChoiceField):
    """A user named by their exact username or email, typed in: there is no list to
    browse, so the form tells a tenant admin nothing about other customers' users."""

    widget = forms.TextInput
    default_error_messages = {
        "invalid_choice": "No active user with this username or email.",
        "ambiguous": "Several users have this email; give the username instead.",
    }

    def prepare_value(self, value):
        if hasattr(value, "get_username"):
            return value.get_username()
        if isinstance(value, int):  # the stored user's id, when the form is unbound
            user = self.queryset.model.objects.filter(pk=value).first()
            return user.get_username() if user else ""
        return value  # what was typed

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        matches = list(self.queryset.filter(Q(username=text) | Q(email__iexact=text))[:3])
        by_username = [user for user in matches if user.get_username() == text]
        if by_username:
            return by_username[0]
        if len(matches) > 1:
            raise ValidationError(self.error_messages["ambiguous"], code="ambiguous")
        if not matches:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return matches[0]


class UserPickerMixin:
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            return UserByIdentifierField(
                queryset=users_pickable_by(request),
                label="User",
                help_text="Their exact username or email.",
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
class MembershipAdmin(UserPickerMixin, TenantScopedAdmin):
    """A tenant admin grants, changes the role of, and revokes memberships. Whom and where a
    membership is for is fixed once granted: revoke it and grant another."""

    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["user", "tenant"] if obj is not None else fields


@admin.register(SlackIdentity)
class SlackIdentityAdmin(UserPickerMixin, TenantScopedAdmin):
    list_display = ["team_id", "slack_user_id", "user", "tenant", "verified_at", "linked_via"]
    readonly_fields = ["verified_at", "linked_via"]


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
