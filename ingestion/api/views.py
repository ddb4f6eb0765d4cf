"""Ingestion over the API: CloudTrail Lake poll runs and the health of every source."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.response import Response

from ingestion.api.serializers import PollRunSerializer, SourceHealthSerializer
from ingestion.filtersets import PollRunFilterSet
from ingestion.models import PollRun
from ingestion.sources import source_reports
from sgportal.api.viewsets import ApiView, TenantScopedViewSet
from sgportal.models import Tenant


class PollRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's poll runs, oldest first (a run's row is updated while it runs)."""

    queryset = PollRun.objects.all()
    serializer_class = PollRunSerializer
    filterset_class = PollRunFilterSet


class SourceHealthViewSet(ApiView, viewsets.ViewSet):
    """The token's tenant's sources (Lake, EventBridge, trail): settings present, switch,
    last delivery, counts, last error, and how many changes only that source delivered."""

    @extend_schema(responses=SourceHealthSerializer(many=True))
    def list(self, request):
        tenant = Tenant.objects.get(pk=request.auth.tenant_id)
        rows = []
        for report in source_reports(tenant):
            row = {key: value for key, value in asdict(report).items() if key != "details"}
            row.update(report.details)  # another kind's fields: null (allow_null in the serializer)
            rows.append(row)
        return Response(SourceHealthSerializer(rows, many=True).data)
