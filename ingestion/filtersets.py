"""django-filter filtersets of the ingestion API (poll runs)."""

from __future__ import annotations

import django_filters as filters

from ingestion.models import PollKind, PollRun, PollStatus
from sgportal.api.filters import UtcIsoDateTimeFilter


class PollRunFilterSet(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=PollStatus.choices, distinct=False)
    kind = filters.ChoiceFilter(choices=PollKind.choices)
    started_after = UtcIsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = UtcIsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = PollRun
        fields = ["status", "kind"]
