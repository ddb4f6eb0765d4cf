"""Admin for approvals: decisions and Slack messages are system-written, so read-only; the
tenant's Slack workspace is edited as an inline on the tenant page."""

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet

from approvals.models import Decision, SlackMessage, SlackWorkspace
from sgportal.admin import extend_tenant_admin
from sgportal.admin_base import ReadOnlyTenantAdmin, TenantInline, WriteOnlySecretsForm

# Editing these is how an admin fixes a "broken" Slack: posting resumes.
SLACK_SETTINGS = {"bot_token", "channel_id"}


class SlackWorkspaceForm(WriteOnlySecretsForm):
    """The bot token is write-only; the workspace is the one it belongs to (auth.test)."""

    secret_fields = ("bot_token",)
    bot_token__clear = forms.BooleanField(label="Clear the Slack bot token", required=False)

    class Meta:
        model = SlackWorkspace
        fields = ["bot_token", "channel_id"]

    def clean(self):
        data = super().clean()
        token = data.get("bot_token", "")
        # Slack is asked only about a token in a form that is otherwise valid (not, say,
        # one naming another tenant's row).
        if "bot_token" in self.changed_data and not self.errors:
            self.instance.team_id = self._workspace_of(token) if token else ""
            if (
                token
                and SlackWorkspace.objects.filter(team_id=self.instance.team_id)
                .exclude(tenant_id=self.instance.tenant_id)
                .exists()
            ):
                self.add_error(
                    "bot_token",
                    "This token's Slack workspace is connected to another sgportal tenant.",
                )
        return data

    def _workspace_of(self, token: str) -> str:
        from approvals.slack.transport import SlackTransport, TransportError

        try:
            return SlackTransport.workspace_of(token)
        except TransportError as exc:
            self.add_error("bot_token", f"Slack did not accept this token ({exc}).")
            return ""


class SlackWorkspaceFormSet(BaseInlineFormSet):
    """Saving new Slack settings clears a "broken" status (``SlackWorkspace.mark_ok``)."""

    def save(self, commit: bool = True):
        saved = super().save(commit)
        edited = [obj for obj, fields in self.changed_objects if SLACK_SETTINGS & set(fields)]
        for workspace in [*self.new_objects, *edited]:
            workspace.mark_ok()
        return saved


class SlackWorkspaceInline(TenantInline):
    """The tenant's Slack: bot token (write-only) and channel; workspace and status shown."""

    model = SlackWorkspace
    form = SlackWorkspaceForm
    formset = SlackWorkspaceFormSet
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "bot_token",
                    "bot_token__clear",
                    "team_id",
                    "channel_id",
                    "status",
                    "error",
                ],
                "description": "The workspace is the one the bot token belongs to "
                "(Slack's auth.test), never typed.",
            },
        )
    ]
    readonly_fields = ["team_id", "status", "error"]
    verbose_name_plural = "Slack"


@admin.display(description="Slack")
def slack_status(tenant) -> str:
    workspace = SlackWorkspace.of(tenant)
    return workspace.get_status_display()


extend_tenant_admin(
    inlines=(SlackWorkspaceInline,),
    list_display=(slack_status,),
    list_select_related=("slack_workspace",),
)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyTenantAdmin):
    list_display = ("change", "verdict", "via", "actor_name", "decided_at")
    list_filter = ("verdict", "via")
    search_fields = ("actor_name", "change__group_id", "change__event_id")


@admin.register(SlackMessage)
class SlackMessageAdmin(ReadOnlyTenantAdmin):
    list_display = ("change", "status", "channel", "ts", "attempts")
    list_filter = ("status",)
    exclude = ("action_token",)  # the button secret stays out of the UI


# --- policies (issue 15) -------------------------------------------------------------------
from django import forms  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402

from approvals.policy.models import (  # noqa: E402
    PolicyException,
    PolicyRule,
    ReviewerGroup,
    TenantPolicy,
)
from sgportal.admin_base import TenantScopedAdmin  # noqa: E402
from sgportal.audit import actor_name_of  # noqa: E402
from sgportal.models import ApiToken  # noqa: E402
from sgportal.tenancy import tenant_ids_for  # noqa: E402


class _TenantChoices:
    """Related choices (groups, people, tokens) limited to the admin's own tenants."""

    def _tenants(self, request):
        return tenant_ids_for(request.user, "admin")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is ReviewerGroup and not request.user.is_superuser:
            kwargs["queryset"] = ReviewerGroup.objects.filter(tenant__in=self._tenants(request))
        if db_field.name == "owner" and not request.user.is_superuser:
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(memberships__tenant__in=self._tenants(request))
                .distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            if db_field.name == "members":
                kwargs["queryset"] = (
                    get_user_model()
                    .objects.filter(memberships__tenant__in=self._tenants(request))
                    .distinct()
                )
            elif db_field.name == "api_tokens":
                kwargs["queryset"] = ApiToken.objects.filter(tenant__in=self._tenants(request))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(ReviewerGroup)
class ReviewerGroupAdmin(_TenantChoices, TenantScopedAdmin):
    list_display = ("name", "tenant")
    filter_horizontal = ("members", "api_tokens")


PREVIEW_DAYS_MAX = 90


class PolicyRuleForm(forms.ModelForm):
    """The rule form; its "Preview" button (``_preview``) replays the stored changes of the
    last ``_preview_days`` days through the tenant's policy with this rule as edited
    (``approvals.policy.io.preview_rule``, the code behind ``policy_simulate``) and shows
    the result on the form instead of saving: a previewed form never counts as valid."""

    preview = None  # the RulePreview once computed (the admin's get_form supplies Meta)

    @property
    def preview_days_shown(self) -> str:
        """The days to put back in the preview's box."""
        return str(self.data.get("_preview_days", "7"))[:4] if self.is_bound else "7"

    def preview_days(self) -> int | None:
        raw = str(self.data.get("_preview_days", "7")).strip()
        days = int(raw) if raw.isdigit() else 0
        return days if 1 <= days <= PREVIEW_DAYS_MAX else None

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if not (valid and "_preview" in self.data):
            return valid
        from approvals.policy.io import PolicyFileError, preview_rule

        days = self.preview_days()
        if days is None:
            self.add_error(None, f"Preview: days must be a whole number, 1 to {PREVIEW_DAYS_MAX}.")
            return False
        try:
            self.preview = preview_rule(self.instance, days=days)
        except PolicyFileError as exc:
            for error in exc.errors:
                self.add_error(None, f"Preview: {error}")
        return False  # a preview never saves


@admin.register(PolicyRule)
class PolicyRuleAdmin(_TenantChoices, TenantScopedAdmin):
    form = PolicyRuleForm
    change_form_template = "admin/approvals/policyrule/change_form.html"
    list_display = ("position", "name", "tenant", "enabled", "severity", "action", "slack_channel")
    list_display_links = ("name",)
    list_filter = ("action", "enabled", "severity")
    ordering = ("tenant", "position", "id")
    search_fields = ("name",)


@admin.register(PolicyException)
class PolicyExceptionAdmin(_TenantChoices, TenantScopedAdmin):
    list_display = ("pk", "tenant", "owner_name", "reason", "expires_at", "expiry_handled_at")
    readonly_fields = ("expiry_handled_at", "from_change")
    exclude = ("owner_name",)

    def save_model(self, request, obj, form, change) -> None:
        obj.owner_name = actor_name_of(obj.owner or request.user)[:300]
        super().save_model(request, obj, form, change)


@admin.register(TenantPolicy)
class TenantPolicyAdmin(TenantScopedAdmin):
    """Emergency mode: switching it on records who and why (the save is audited)."""

    list_display = ("tenant", "emergency", "emergency_by", "emergency_since")
    readonly_fields = ("emergency_by", "emergency_since", "version")

    def save_model(self, request, obj, form, change) -> None:
        if "emergency" in form.changed_data or not change:
            obj.emergency_by = actor_name_of(request.user)[:300] if obj.emergency else ""
            obj.emergency_since = timezone.now() if obj.emergency else None
        super().save_model(request, obj, form, change)
