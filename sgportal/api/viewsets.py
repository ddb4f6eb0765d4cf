"""The base of every API view: token auth, scopes, JSON errors, throttling, and the one place
where querysets are restricted to the token's tenant (NetBox style)."""

from __future__ import annotations

from rest_framework import viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.throttling import SimpleRateThrottle

from sgportal.api.authentication import BearerTokenAuthentication
from sgportal.api.errors import api_exception_handler
from sgportal.api.pagination import Feed, FeedPagination
from sgportal.api.permissions import HasTokenScope
from sgportal.api.schema import ApiAutoSchema
from sgportal.models.tokens import Scope

REQUESTS_PER_TOKEN = "1200/min"  # noqa: S105 (a rate, not a secret)


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per token (in the default cache), answered 429 with Retry-After past it."""

    scope = "api_token"

    def get_rate(self) -> str:
        return REQUESTS_PER_TOKEN

    def get_cache_key(self, request, view) -> str | None:
        token = request.auth
        return (
            None if token is None else self.cache_format % {"scope": self.scope, "ident": token.pk}
        )


class ApiView:
    """Mixin with what every API view shares (viewsets and plain APIViews)."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasTokenScope]
    throttle_classes = [TokenRateThrottle]
    renderer_classes = [JSONRenderer]
    required_scope = Scope.READ
    schema = ApiAutoSchema()

    def get_exception_handler(self):
        return api_exception_handler


class TenantScopedViewSet(ApiView, viewsets.GenericViewSet):
    """Querysets hold only the token's tenant's rows: another tenant's object is a 404, the
    same as one that does not exist. Subclasses declare queryset, serializer, filterset
    and ``feed`` (the stable order list endpoints page through)."""

    pagination_class = FeedPagination
    feed = Feed(name="id", position=("id",))
    lookup_value_converter = "int"

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset.none()
        return queryset.for_tenant(self.request.auth.tenant_id)

    def get_feed(self, request) -> Feed:
        return self.feed
