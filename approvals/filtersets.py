"""django-filter filterset of the changes API."""

from __future__ import annotations

import django_filters as filters

from ingestion.models import ChangeStatus, EventName, SecurityGroupChange, Source
from sgportal.api.filters import UtcIsoDateTimeFilter


class ChangeFilterSet(filters.FilterSet):
    # distinct=False on the multiple-choice filters: no filter joins a to-many relation, and
    # DISTINCT over every column made PostgreSQL sort the whole match (bench/api.py).
    status = filters.MultipleChoiceFilter(choices=ChangeStatus.choices, distinct=False)
    source = filters.MultipleChoiceFilter(choices=Source.choices, distinct=False)
    event_name = filters.MultipleChoiceFilter(choices=EventName.choices, distinct=False)
    account = filters.NumberFilter(field_name="account_id", help_text="AwsAccount id (the API's).")
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
