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
    is_tenant_admin,
    tenant_admin_ids,
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


def users_visible_to(request):
    """Users a tenant admin may see: members of the tenants they administer, nobody else
    (not even users in no tenant yet: they may belong to another customer)."""
    users = User.objects.all()
    if request.user.is_superuser:
        return users
    return users.filter(memberships__tenant_id__in=tenant_admin_ids(request)).distinct()


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
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]


@admin.register(SlackIdentity)
class SlackIdentityAdmin(UserPickerMixin, TenantScopedAdmin):
    list_display = ["team_id", "slack_user_id", "user", "tenant", "verified_at", "linked_via"]
    readonly_fields = ["verified_at", "linked_via"]


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdmin):
    """Tokens are created here or with `manage.py createtoken`; the text is shown once, on
    creation, and only its hash is kept. A token can then only be revoked, for good: the
    revocation is audited as a revocation and nothing can undo it (no field edits
    `revoked_at`; the model and a database trigger refuse it). No deletion: revoke instead."""

    list_display = [
        "name",
        "tenant",
        "key_id",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    list_filter = ["scopes"]
    readonly_fields = [
        "tenant",
        "name",
        "key_id",
        "scopes",
        "created_by_name",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
        "revoked_by_name",
    ]
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["tenant", "name", "token_scopes", "expires_days"]
        fields = list(self.readonly_fields)
        return fields if obj.revoked_at else [*fields, "revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        from sgportal.api.token_admin import ApiTokenAddForm, ApiTokenChangeForm

        kwargs["form"] = ApiTokenChangeForm if obj is not None else ApiTokenAddForm
        kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        from sgportal.api.tokens import create_token, revoke_token

        if change:
            if form.cleaned_data.get("revoke"):
                revoke_token(obj, actor=request.user, via="admin")
            return
        token, text = create_token(
            form.cleaned_data["tenant"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["token_scopes"],
            expires_days=form.cleaned_data["expires_days"],
            actor=request.user,
            via="admin",
        )
        obj.pk, obj._state.adding, obj._token_text = token.pk, False, text

    def save_related(self, request, form, formsets, change) -> None:
        """Nothing related; the form's own save_m2m would act on the unsaved instance."""

    def log_addition(self, request, obj, message):
        return None  # the audit chain has the creation; LogEntry would repeat it

    def response_add(self, request, obj, post_url_continue=None):
        from django.template.response import TemplateResponse

        response = TemplateResponse(
            request,
            "admin/sgportal/apitoken/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "token": obj,
                "token_text": obj._token_text,
                "title": "API token created",
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens (for good)")
    def revoke_selected(self, request, queryset) -> None:
        from sgportal.api.tokens import revoke_token

        revoked = sum(revoke_token(t, actor=request.user, via="admin") for t in queryset)
        self.message_user(request, f"Revoked {revoked} token(s).")


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
    """Tenant admins manage users of their tenants but can never grant superuser or permissions."""

    def get_queryset(self, request):
        return users_visible_to(request)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "groups", "user_permissions", "last_login", "date_joined"]
        return fields

    def has_module_permission(self, request) -> bool:
        return is_tenant_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return is_tenant_admin(request) and self._visible(request, obj)

    def has_add_permission(self, request) -> bool:
        # Users come from sign-in (SSO) or a superuser; a tenant admin then grants them a
        # membership by username or email. A user a tenant admin created would belong to
        # no tenant, and so be invisible to them.
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return is_tenant_admin(request) and self._visible(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def _visible(self, request, obj) -> bool:
        return obj is None or users_visible_to(request).filter(pk=obj.pk).exists()

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            stored = User.objects.get(pk=obj.pk) if change else None
            before = snapshot(stored) if stored else None
            if not request.user.is_superuser:  # never granted here, whatever was posted
                obj.is_superuser = stored.is_superuser if stored else False
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
