"""django-filter filtersets of the sgportal API (accounts, audit entries)."""

from __future__ import annotations

import django_filters as filters

from sgportal.api.filters import UtcIsoDateTimeFilter
from sgportal.models import AuditAction, AuditEntry, AwsAccount


class AwsAccountFilterSet(filters.FilterSet):
    class Meta:
        model = AwsAccount
        fields = ["account_id", "active"]


class AuditEntryFilterSet(filters.FilterSet):
    action = filters.MultipleChoiceFilter(choices=AuditAction.choices, distinct=False)
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = ["action", "via", "object_type", "object_id"]
