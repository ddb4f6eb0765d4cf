"""CloudTrail Lake poll runs over the API (how ingestion is doing)."""

from __future__ import annotations

from rest_framework import mixins

from ingestion.api.serializers import PollRunSerializer
from ingestion.filtersets import PollRunFilterSet
from ingestion.models import PollRun
from sgportal.api.viewsets import TenantScopedViewSet


class PollRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's poll runs, oldest first (a run's row is updated while it runs)."""

    queryset = PollRun.objects.all()
    serializer_class = PollRunSerializer
    filterset_class = PollRunFilterSet
