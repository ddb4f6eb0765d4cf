"""``Authorization: Bearer sgp_…``: the one way into the REST API."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from sgportal.api.tokens import authenticate_token
from sgportal.models import ApiToken


@dataclass(frozen=True)
class ApiClient:
    """``request.user`` for a token: the integration acting for one tenant."""

    token: ApiToken

    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    pk = None

    @property
    def tenant_id(self) -> int:
        return self.token.tenant_id

    def get_username(self) -> str:
        return f"api-token:{self.token.name} ({self.token.key_id})"

    def __str__(self) -> str:
        return self.get_username()


class BearerTokenAuthentication(BaseAuthentication):
    """A valid, unexpired, unrevoked token of an active tenant, or 401."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts:
            return None  # -> 401 not_authenticated
        if parts[0].lower() != b"bearer" or len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Use the header Authorization: Bearer sgp_…", code="invalid_token"
            )
        try:
            text = parts[1].decode("ascii")
        except UnicodeDecodeError:
            text = ""
        token = authenticate_token(text, request.META.get("REMOTE_ADDR"))
        if token is None:
            raise exceptions.AuthenticationFailed(
                "Invalid, expired or revoked token.", code="invalid_token"
            )
        return ApiClient(token), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="sgportal"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token (drf-spectacular picks this up by class)."""

    target_class = BearerTokenAuthentication
    name = "sgpToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An sgp_… token from `manage.py createtoken` or the admin.",
        }
