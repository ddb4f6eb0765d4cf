"""Django admin for tenancy, tokens and the audit log, scoped per tenant (see admin_base)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.utils.html import format_html

from sgportal import aws_roles
from sgportal.admin_base import (
    ReadOnlyTenantAdmin,
    TenantScopedAdmin,
    audit_formset,
    formset_snapshots,
)
from sgportal.audit import record_audit, snapshot
from sgportal.memberships import clean_grant_email, grant_membership
from sgportal.models import (
    ApiToken,
    AuditAction,
    AuditEntry,
    AwsAccount,
    IdpGroupMapping,
    Membership,
    RoleCheck,
    SlackIdentity,
    Tenant,
)
from sgportal.publish import enqueue
from sgportal.tasks import CHECK_TENANT_ROLES

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
        "default_policy",
        "dry_run",
    ]
    search_fields = ["slug", "name"]
    readonly_fields = [
        "external_id",
        "trust_policy",
        "created_at",
    ]
    actions = ["rotate_external_id", "check_roles"]
    # Apps add their inlines, actions and columns on the tenant page with
    # ``extend_tenant_admin`` (ingestion: its sources; approvals: the Slack workspace), so
    # sgportal never imports them.
    inlines: list = []
    fieldsets = [
        (
            None,
            {"fields": ["slug", "name", "active", "default_policy", "decision_timeout_minutes"]},
        ),
        (
            "AWS identity",
            {
                "fields": ["external_id", "trust_policy"],
                "description": "Every role you give sgportal (Lake or trail read, hub, spoke) must "
                "require this ExternalId in its trust policy; a role sgportal can assume "
                "without it is refused. Rotate it with the action on the tenant list.",
            },
        ),
        ("Remediation", {"fields": ["hub_role_arn", "dry_run"]}),
        ("Decisions", {"fields": ["deny_reason_required"]}),
        (None, {"fields": ["created_at"]}),
    ]

    @admin.display(description="Trust policy to paste")
    def trust_policy(self, obj: Tenant) -> str:
        return format_html("<pre>{}</pre>", aws_roles.trust_policy(obj)) if obj.pk else "-"

    @admin.action(description="Rotate the ExternalId (roles must then trust the new one)")
    def rotate_external_id(self, request, queryset) -> None:
        for tenant in queryset:
            aws_roles.rotate_external_id(tenant, actor=request.user)
            self.message_user(request, f"{tenant}: new ExternalId {tenant.external_id}.")

    @admin.action(description="Check that every role requires the ExternalId")
    def check_roles(self, request, queryset) -> None:
        for tenant in queryset:
            for check in aws_roles.check_tenant_roles(tenant, actor=request.user, via="admin"):
                level = messages.SUCCESS if check.status == "enforced" else messages.ERROR
                if check.status == "enforced" and check.detail:  # verified by another tenant
                    level = messages.WARNING
                self.message_user(request, f"{tenant}: {check} {check.detail}".strip(), level)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["slug", "active"]
        return fields

    def save_formset(self, request, form, formset, change) -> None:
        with transaction.atomic():
            before = formset_snapshots(formset)
            super().save_formset(request, form, formset, change)
            audit_formset(request, formset, before)

    def has_add_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser


def extend_tenant_admin(
    *,
    inlines: tuple = (),
    actions: tuple = (),
    list_display: tuple = (),
    list_select_related: tuple = (),
) -> None:
    """Add an app's inlines, actions and list columns (with the relations they read) to the
    tenant pages (idempotent)."""
    selected = list(TenantAdmin.list_select_related or ())
    TenantAdmin.list_select_related = [
        *selected,
        *(r for r in list_select_related if r not in selected),
    ]
    TenantAdmin.list_display = [
        *TenantAdmin.list_display,
        *(c for c in list_display if c not in TenantAdmin.list_display),
    ]
    TenantAdmin.inlines = [
        *TenantAdmin.inlines,
        *(i for i in inlines if i not in TenantAdmin.inlines),
    ]
    TenantAdmin.actions = [
        *TenantAdmin.actions,
        *(a for a in actions if a not in TenantAdmin.actions),
    ]


@admin.register(AwsAccount)
class AwsAccountAdmin(TenantScopedAdmin):
    """An account id another tenant holds unverified can be registered (that row is inert);
    one verified by another tenant is refused. ``verified_at`` is set only by the role check:
    started by saving the account here, by the tenant list action "Check that every role
    requires the ExternalId", and by beat."""

    list_display = ["account_id", "name", "tenant", "active", "verified", "spoke_role_arn"]
    list_filter = ["active"]
    search_fields = ["account_id", "name"]
    readonly_fields = ["verified_at"]

    @admin.display(boolean=True, description="Verified", ordering="verified_at")
    def verified(self, obj: AwsAccount) -> bool:
        return obj.verified_at is not None

    def save_model(self, request, obj, form, change) -> None:
        """Saved with a spoke role and not verified (new, or its role changed): the tenant's
        roles are checked by a worker right after commit, so the account is verified within
        seconds of being set up instead of at the next periodic check."""
        super().save_model(request, obj, form, change)
        if obj.active and obj.spoke_role_arn and obj.verified_at is None:
            tenant_id, actor_id = obj.tenant_id, request.user.pk
            transaction.on_commit(
                lambda: enqueue(CHECK_TENANT_ROLES, args=[tenant_id, actor_id]), robust=True
            )
            self.message_user(
                request,
                f"{obj}: sgportal is checking its spoke role now; the account is verified (and "
                "reverts in it allowed) once the role requires this tenant's ExternalId. See "
                "Role checks.",
                messages.INFO,
            )


@admin.register(RoleCheck)
class RoleCheckAdmin(ReadOnlyTenantAdmin):
    """Results of "Check that every role requires the ExternalId" (tenant list action)."""

    list_display = ["role_arn", "tenant", "status", "checked_at", "detail"]
    list_filter = ["status"]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    """A tenant admin grants roles by email (``sgportal.memberships``), changes a role, and
    revokes. Whom and where a membership is for is fixed once granted: revoke and grant anew."""

    list_display = ["person", "tenant", "role", "source", "created_at"]
    list_filter = ["role", "source"]
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


@admin.register(IdpGroupMapping)
class IdpGroupMappingAdmin(TenantScopedAdmin):
    """Single sign-on: members of an identity-provider group get a role in one of the admin's
    tenants. Applied at each SSO sign-in (``sgportal.sso``): a person who has left the group
    loses the role then; memberships granted by hand are never touched."""

    list_display = ["group", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["group"]
    fields = ["tenant", "group", "role"]


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


# What a person's tenants read of an edit to their account: what changed, never the
# password hash, nor when they last signed in (their other tenants are none of this one's).
_PERSON_UNAUDITED = ("password", "last_login")


def _person_audit(before: dict | None, after: dict) -> tuple[dict | None, dict]:
    """The before/after a user edit records in each of the person's tenants: an update
    only the fields it changed, a creation the new account, both without _PERSON_UNAUDITED."""
    for data in (before, after):
        for name in _PERSON_UNAUDITED:
            (data or {}).pop(name, None)
    if before is None:
        return None, after
    changed = [name for name in after if before.get(name) != after[name]]
    return {name: before.get(name) for name in changed}, {name: after[name] for name in changed}


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
            before, after = _person_audit(before, snapshot(obj))
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
