"""Token scopes: ``read`` for every GET, a view's ``required_scope`` (e.g. ``decide``) otherwise."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from sgportal.models import ApiToken
from sgportal.models.tokens import Scope


class HasTokenScope(BasePermission):
    """The token carries the scope the view (or action) asks for."""

    message = "This token lacks the scope this call needs."
    code = "missing_scope"

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        scope = getattr(view, "required_scope", None) or Scope.READ
        return token.has_scope(scope)
