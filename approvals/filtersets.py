"""django-filter filterset of the changes API."""

from __future__ import annotations

import datetime as dt
import re

import django_filters as filters
from django import forms
from django.db import models
from django.db.models import Q

from ingestion.models import ChangeStatus, EventName, SecurityGroupChange, Source
from sgportal.api.filters import IdFilter, UtcIsoDateTimeFilter


class ChangeFilterSet(filters.FilterSet):
    # distinct=False on the multiple-choice filters: no filter joins a to-many relation, and
    # DISTINCT over every column made PostgreSQL sort the whole match (bench/api.py).
    status = filters.MultipleChoiceFilter(choices=ChangeStatus.choices, distinct=False)
    source = filters.MultipleChoiceFilter(choices=Source.choices, distinct=False)
    event_name = filters.MultipleChoiceFilter(choices=EventName.choices, distinct=False)
    account = IdFilter(field_name="account_id", help_text="AwsAccount id (the API's).")
    account_id = filters.CharFilter(field_name="aws_account_id", help_text="12-digit AWS id.")
    region = filters.CharFilter()
    actor = filters.CharFilter(field_name="actor_arn", help_text="The actor's exact ARN.")
    group = filters.CharFilter(field_name="group_id", help_text="Security group id (sg-…).")
    event_time_after = UtcIsoDateTimeFilter(field_name="event_time", lookup_expr="gte")
    event_time_before = UtcIsoDateTimeFilter(field_name="event_time", lookup_expr="lt")
    ingested_after = UtcIsoDateTimeFilter(field_name="ingested_at", lookup_expr="gte")
    ingested_before = UtcIsoDateTimeFilter(field_name="ingested_at", lookup_expr="lt")

    class Meta:
        model = SecurityGroupChange
        fields: list[str] = []


class _DateInput(forms.DateInput):
    input_type = "date"


# --- the web queue (issue 13) -------------------------------------------------------------
# A separate class from the API's: the queue's form speaks to people (words, dates, one
# search box); the API's speaks to scripts. Both filter the same scoped queryset.

WORLD_TEXTS = ('"0.0.0.0/0"', '"::/0"')


class Tool(models.TextChoices):
    """How a change was made, as the queue's filter offers it (see ``wording.tool_of``)."""

    CONSOLE = "console", "AWS console"
    CLI = "cli", "AWS CLI"
    TERRAFORM = "terraform", "Terraform"
    CLOUDFORMATION = "cloudformation", "CloudFormation"
    SDK = "sdk", "SDK"
    SERVICE = "service", "Another AWS service"


def _tool_q(tool: str) -> Q:
    consoleish = Q(via_console=True) | Q(invoked_by="signin.amazonaws.com")
    consoleish |= Q(user_agent__iexact="signin.amazonaws.com") | Q(
        user_agent__iexact="aws internal"
    )
    return {
        Tool.CONSOLE: consoleish | Q(user_agent__icontains="console"),
        Tool.CLI: Q(user_agent__icontains="aws-cli"),
        Tool.TERRAFORM: Q(user_agent__icontains="terraform"),
        Tool.CLOUDFORMATION: Q(invoked_by="cloudformation.amazonaws.com")
        | Q(user_agent__icontains="cloudformation"),
        Tool.SDK: Q(user_agent__icontains="boto3") | Q(user_agent__icontains="aws-sdk-"),
        Tool.SERVICE: ~Q(invoked_by="") & ~Q(invoked_by="signin.amazonaws.com"),
    }[Tool(tool)]


def _user_tenants(request):
    from sgportal.models import Tenant
    from sgportal.tenancy import tenant_ids_for

    return Tenant.objects.filter(pk__in=tenant_ids_for(request.user)).order_by("name")


def _user_accounts(request):
    from sgportal.models import AwsAccount

    return AwsAccount.objects.for_user(request.user).select_related("tenant").order_by("name")


_ADDRESSISH = re.compile(r"^[0-9a-fA-F.:/]+$")
_EVENT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}$")


def search_q(text: str) -> Q:
    """What the queue's search box looks in, by the shape of the text: a rule id or a CIDR
    in the rules, an address in the source IP too, an event id exactly, a group id in the
    group, anything else in the actor and the group's id and name. Looking only where the
    text can be keeps the search to one or two comparisons per row."""
    value = text.strip()[:200]
    lowered = value.lower()
    if _EVENT_ID.match(value):
        return Q(event_id=lowered) | Q(event_id=value)
    if lowered.startswith("sgr-"):
        return Q(rules__icontains=value)
    if lowered.startswith("sg-"):
        return Q(group_id__icontains=value)
    if _ADDRESSISH.match(value) and any(c in value for c in ".:"):
        # CIDRs and rule ids live in the rules' JSON text.
        return Q(source_ip__startswith=value) | Q(rules__icontains=value)
    return (
        Q(actor_arn__icontains=value)
        | Q(group_id__icontains=value)
        | Q(group_name__icontains=value)
        | Q(event_id=value)
    )


SEVERITY_CHOICES = [
    ("5", "made with sgportal's revert role"),
    ("4", "critical and above"),
    ("3", "high and above"),
    ("2", "medium and above"),
    ("1", "all rated"),
]
SORTS = {
    "newest": ("-ingested_at", "-id"),
    "oldest": ("ingested_at", "id"),
    "severity": ("-severity", "-ingested_at", "-id"),
}


class QueueFilterSet(filters.FilterSet):
    """The web queue's filters, search and sort; the queryset must already be scoped."""

    q = filters.CharFilter(method="search", label="Search")
    status = filters.ChoiceFilter(choices=ChangeStatus.choices, empty_label="any status")
    severity = filters.ChoiceFilter(
        choices=SEVERITY_CHOICES, method="filter_severity", empty_label="any severity"
    )
    tenant = filters.ModelChoiceFilter(queryset=_user_tenants, empty_label="any tenant")
    account = filters.ModelChoiceFilter(queryset=_user_accounts, empty_label="any account")
    region = filters.CharFilter(lookup_expr="iexact")
    event_name = filters.ChoiceFilter(
        choices=EventName.choices, empty_label="any event", label="Event"
    )
    actor = filters.CharFilter(field_name="actor_arn", lookup_expr="icontains")
    tool = filters.ChoiceFilter(choices=Tool.choices, method="filter_tool", empty_label="any tool")
    source = filters.ChoiceFilter(choices=Source.choices, empty_label="any source")
    world = filters.BooleanFilter(
        method="filter_world",
        label="Open to the world",
        widget=forms.CheckboxInput,
    )
    after = filters.DateFilter(method="filter_after", label="From", widget=_DateInput)
    before = filters.DateFilter(method="filter_before", label="To", widget=_DateInput)
    sort = filters.ChoiceFilter(
        choices=[("oldest", "waiting longest"), ("severity", "severity")],
        method="filter_sort",
        empty_label="newest first",
    )

    class Meta:
        model = SecurityGroupChange
        fields: list[str] = []

    def search(self, queryset, name, value):
        return queryset.filter(search_q(value)) if value.strip() else queryset

    def filter_severity(self, queryset, name, value):
        return queryset.filter(severity__gte=int(value)) if value else queryset

    def filter_tool(self, queryset, name, value):
        return queryset.filter(_tool_q(value)) if value else queryset

    def filter_world(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            Q(rules__icontains=WORLD_TEXTS[0]) | Q(rules__icontains=WORLD_TEXTS[1])
        )

    def filter_after(self, queryset, name, value):
        start = dt.datetime.combine(value, dt.time.min, tzinfo=dt.UTC)
        return queryset.filter(ingested_at__gte=start)

    def filter_before(self, queryset, name, value):
        end = dt.datetime.combine(value + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        return queryset.filter(ingested_at__lt=end)

    def filter_sort(self, queryset, name, value):
        return queryset  # applied last, in ``ordered``

    def ordered(self) -> models.QuerySet:
        """The filtered changes in the chosen order (newest first by default)."""
        sort = self.form.cleaned_data.get("sort") if self.is_bound and self.form.is_valid() else ""
        return self.qs.order_by(*SORTS.get(sort or "newest", SORTS["newest"]))
