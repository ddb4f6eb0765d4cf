"""AWS accounts and the audit log over the API."""

from __future__ import annotations

from rest_framework import mixins

from sgportal.api.pagination import Feed
from sgportal.api.serializers import AuditEntrySerializer, AwsAccountSerializer
from sgportal.api.viewsets import TenantScopedViewSet
from sgportal.filtersets import AuditEntryFilterSet, AwsAccountFilterSet
from sgportal.models import AuditEntry, AwsAccount


class AwsAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's AWS accounts."""

    queryset = AwsAccount.objects.all()
    serializer_class = AwsAccountSerializer
    filterset_class = AwsAccountFilterSet


class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's audit log in chain order. ``seq`` is assigned under the tenant's chain
    head lock, held to commit, so entries commit in seq order: a cursor on seq never skips."""

    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilterSet
    feed = Feed(name="audit", position=("seq",))
