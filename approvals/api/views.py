"""Changes over the API: the ingestion-order feed, the updates feed, detail, and decisions."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from approvals.actions import AlreadyDecided, InvalidTransition, decide
from approvals.api.serializers import (
    ChangeDetailSerializer,
    ChangeSerializer,
    DecisionRequestSerializer,
    DecisionSerializer,
)
from approvals.filtersets import ChangeFilterSet
from approvals.models import Decision, Via
from approvals.policy.gate import NotInReviewerGroup
from ingestion.models import SecurityGroupChange
from sgportal.api.errors import Conflict
from sgportal.api.pagination import Feed
from sgportal.api.viewsets import TenantScopedViewSet
from sgportal.models.tokens import Scope

# Ingestion order: the inserting transaction, then the id (see docs/api.md, "Exactly once").
INGESTED = Feed(name="changes", position=("ingest_txid", "id"), txid_column="ingest_txid")
# Status moves: the transaction of the latest status change, then the id.
UPDATED = Feed(
    name="updates",
    position=("status_txid", "id"),
    param="updated_since",
    txid_column="status_txid",
    extra_filter={"status_txid__isnull": False},
)

UPDATED_SINCE = OpenApiParameter(
    "updated_since",
    str,
    description="Pull changes whose status moved (decided, reverting, reverted…), in the "
    "order they moved, instead of new changes: next_cursor of the previous updates page, or "
    "0 to start from the beginning. A change that moves again comes again.",
)


@extend_schema_view(list=extend_schema(parameters=[UPDATED_SINCE]))
class ChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Security-group changes of the token's tenant, in ingestion order."""

    queryset = SecurityGroupChange.objects.defer("raw")
    serializer_class = ChangeSerializer
    filterset_class = ChangeFilterSet

    def get_feed(self, request) -> Feed:
        return UPDATED if "updated_since" in request.query_params else INGESTED

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action != "list":
            decisions = Prefetch("decisions", queryset=Decision.objects.order_by("decided_at"))
            queryset = queryset.defer(None).prefetch_related(decisions)
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ChangeDetailSerializer
        if self.action == "decision":
            return DecisionRequestSerializer
        return ChangeSerializer

    @extend_schema(
        request=DecisionRequestSerializer,
        responses={201: DecisionSerializer},
        description="Approve or deny a pending change (scope `decide`). The same one "
        "decision path as Slack and the web queue; a deny starts the revert. 409 with code "
        "`already_decided` or `invalid_transition` when the change cannot take it.",
    )
    @action(detail=True, methods=["post"], required_scope=Scope.DECIDE)
    def decision(self, request, pk=None):
        change = self.get_object()
        body = DecisionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            made = decide(
                change,
                verdict=body.validated_data["verdict"],
                actor=request.user,
                via=Via.API,
                reason=body.validated_data["reason"],
            )
        except AlreadyDecided as exc:
            raise Conflict(str(exc), code="already_decided") from None
        except InvalidTransition as exc:
            raise Conflict(str(exc), code="invalid_transition") from None
        except NotInReviewerGroup as exc:
            raise PermissionDenied(str(exc), code="not_in_reviewer_group") from None
        return Response(DecisionSerializer(made).data, status=status.HTTP_201_CREATED)
