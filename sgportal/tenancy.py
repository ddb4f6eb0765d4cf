"""The one tenant-scoping mechanism: admin, web views and the API all go through it.

Each tenant-owned model uses ``TenantScopedQuerySet`` and names the path from itself to
its tenant (``tenant_path``, default ``"tenant"``). ``for_user(user, min_role)`` keeps
only rows in tenants where the user holds at least that role; superusers see everything.
``get_for_user`` is the single lookup by id on user input: absent and not-yours give the
same 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.http import Http404

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    APPROVER = "approver", "Approver"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 1, Role.APPROVER: 2, Role.ADMIN: 3}


def roles_at_least(role: str) -> list[str]:
    """The roles that grant at least ``role``."""
    return [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK[Role(role)]]


def tenant_ids_for(user: AbstractBaseUser, min_role: str = Role.VIEWER) -> models.QuerySet:
    """Ids of the active tenants where ``user`` holds at least ``min_role`` (a subquery)."""
    from sgportal.models import Membership, Tenant

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Tenant.objects.none().values("id")
    if user.is_superuser:
        return Tenant.objects.values("id")
    return Membership.objects.filter(
        user=user, role__in=roles_at_least(min_role), tenant__active=True
    ).values("tenant_id")


def has_role(user: AbstractBaseUser, tenant_id: int, min_role: str) -> bool:
    """Whether ``user`` holds at least ``min_role`` in the tenant."""
    from sgportal.models import Tenant

    return Tenant.objects.filter(pk=tenant_id, pk__in=tenant_ids_for(user, min_role)).exists()


class TenantScopedQuerySet(models.QuerySet):
    """A queryset that knows how to restrict itself to a user's tenants."""

    def _tenant_path(self) -> str:
        return getattr(self.model, "tenant_path", "tenant")

    def for_user(self, user: AbstractBaseUser, min_role: str = Role.VIEWER) -> TenantScopedQuerySet:
        if getattr(user, "is_superuser", False) and user.is_active:
            return self
        return self.filter(**{f"{self._tenant_path()}__in": tenant_ids_for(user, min_role)})

    def for_tenant(self, tenant: Any) -> TenantScopedQuerySet:
        tenant_id = getattr(tenant, "pk", tenant)
        return self.filter(**{self._tenant_path(): tenant_id})


def get_for_user(
    queryset: TenantScopedQuerySet, user: AbstractBaseUser, pk: Any, min_role: str = Role.VIEWER
) -> Any:
    """The object with ``pk`` if it is in one of the user's tenants, else Http404."""
    try:
        return queryset.for_user(user, min_role).get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("No such object.") from None
