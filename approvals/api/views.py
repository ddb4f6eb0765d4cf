"""Changes over the API: the ingestion-order feed, the updates feed, detail, and decisions."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from approvals.actions import AlreadyDecided, InvalidTransition, ReasonRequired, decide
from approvals.api import ocsf
from approvals.api.export import export_response
from approvals.api.feeds import INGESTED, UPDATED
from approvals.api.renderers import OCSF_MEDIA_TYPE, NdjsonRenderer, OcsfRenderer
from approvals.api.serializers import (
    ChangeDetailSerializer,
    ChangeSerializer,
    DecisionRequestSerializer,
    DecisionSerializer,
    OcsfEventSerializer,
)
from approvals.filtersets import ChangeFilterSet
from approvals.models import Decision, Via
from approvals.policy.gate import NotInReviewerGroup
from ingestion.models import SecurityGroupChange
from sgportal.api.errors import Conflict
from sgportal.api.pagination import Feed, decode_cursor
from sgportal.api.schema import cursor_format
from sgportal.api.viewsets import TenantScopedViewSet
from sgportal.models.tokens import Scope


class ReasonMissing(APIException):
    """400 ``reason_required``: a deny without a reason where the tenant requires one."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "a deny needs a reason in this tenant"
    default_code = "reason_required"


UPDATED_SINCE = OpenApiParameter(
    "updated_since",
    {"type": "string", "format": cursor_format(UPDATED.name)},
    description="Pull changes whose status moved (decided, reverting, reverted…), in the "
    "order they moved, instead of new changes: next_cursor of the previous updates page, or "
    "0 to start from the beginning. A change that moves again comes again.",
)


JSON = "application/json"


def _ocsf_detail(change) -> dict:
    return ocsf.change_to_ocsf(change, raw=True)


@extend_schema_view(
    list=extend_schema(
        parameters=[UPDATED_SINCE],
        responses={
            (200, JSON): ChangeSerializer(many=True),
            (200, OCSF_MEDIA_TYPE): OcsfEventSerializer(many=True),
        },
        description="With `format=ocsf`: OCSF API Activity (6003) objects; on the updates "
        "feed, Remediation Activity (7001) for decided and reverted changes (docs/ocsf.md).",
    ),
    retrieve=extend_schema(
        responses={(200, JSON): ChangeDetailSerializer, (200, OCSF_MEDIA_TYPE): OcsfEventSerializer}
    ),
)
class ChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Security-group changes of the token's tenant, in ingestion order."""

    renderer_classes = [JSONRenderer, OcsfRenderer]

    queryset = SecurityGroupChange.objects.defer("raw")
    serializer_class = ChangeSerializer
    feed = INGESTED  # ?updated_since switches to UPDATED (get_feed)
    filterset_class = ChangeFilterSet

    def get_feed(self, request) -> Feed:
        return UPDATED if "updated_since" in request.query_params else INGESTED

    def wants_ocsf(self) -> bool:
        renderer = getattr(self.request, "accepted_renderer", None)
        return getattr(renderer, "format", None) == OcsfRenderer.format

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.wants_ocsf():
            queryset = queryset.select_related("account")  # OCSF names the account
        decisions = Prefetch("decisions", queryset=Decision.objects.order_by("decided_at"))
        if self.action not in ("list", "export"):
            queryset = queryset.defer(None).prefetch_related(decisions)
        elif self.wants_ocsf() and "updated_since" in self.request.query_params:
            queryset = queryset.prefetch_related(decisions)
        return queryset

    def get_serializer(self, *args, **kwargs):
        if self.wants_ocsf() and self.action in ("list", "retrieve"):
            if self.action == "retrieve":
                builder = _ocsf_detail
            elif "updated_since" in self.request.query_params:
                builder = ocsf.update_to_ocsf
            else:
                builder = ocsf.change_to_ocsf
            return OcsfEventSerializer(*args, builder=builder, **kwargs)
        return super().get_serializer(*args, **kwargs)

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ChangeDetailSerializer
        if self.action == "decision":
            return DecisionRequestSerializer
        return ChangeSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "cursor",
                {"type": "string", "format": cursor_format(INGESTED.name)},
                description="Export the changes after this cursor (a list page's or a "
                "previous export's X-Next-Cursor); empty: from the start.",
            )
        ],
        responses={(200, NdjsonRenderer.media_type): OpenApiTypes.STR},
        description="Every change (after `cursor`, matching the filters) as NDJSON, one "
        "object a line, in ingestion order, streamed in constant memory: plain JSON as in "
        "the list, or OCSF API Activity with `format=ocsf`. The header `X-Next-Cursor` is "
        "the cursor after the last row the export will send: pass it to the list or to the "
        "next export to continue exactly once.",
    )
    @action(
        detail=False,
        methods=["get"],
        renderer_classes=[NdjsonRenderer, JSONRenderer, OcsfRenderer],
        pagination_class=None,
    )
    def export(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        after = decode_cursor(INGESTED, request.query_params.get("cursor", ""))
        return export_response(queryset, after, ocsf=self.wants_ocsf())

    @extend_schema(
        request=DecisionRequestSerializer,
        responses={
            (201, JSON): DecisionSerializer,
            (201, OCSF_MEDIA_TYPE): OcsfEventSerializer,
        },
        description="Approve or deny a pending change (scope `decide`). The same one "
        "decision path as Slack and the web queue; a deny starts the revert. 409 with code "
        "`already_decided` or `invalid_transition` when the change cannot take it; 400 with "
        "code `reason_required` for a deny without a reason when the tenant requires one "
        "(the default). With "
        "`format=ocsf`: the decision as an OCSF Remediation Activity (7001).",
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
        except ReasonRequired as exc:
            raise ReasonMissing(str(exc), code=ReasonRequired.code) from None
        if self.wants_ocsf():
            change.refresh_from_db()
            body = ocsf.decision_to_ocsf(made, change)
        else:
            body = DecisionSerializer(made).data
        return Response(body, status=status.HTTP_201_CREATED)
