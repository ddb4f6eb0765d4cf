"""JSON errors with a stable code: ``{"error": {"code", "message", "fields"?}}``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

# DRF's own codes, renamed where ours read better; anything else keeps DRF's code.
CODES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "invalid_token",
    "permission_denied": "permission_denied",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
    "throttled": "throttled",
    "parse_error": "parse_error",
    "invalid": "validation_error",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the object's current state."
    default_code = "conflict"


def _code(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "validation_error"
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    return CODES.get(code, code)


def api_exception_handler(exc, context) -> Response | None:
    """Every API error as JSON with a stable ``code``; None (a 500) for real bugs."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    body: dict = {"code": _code(exc)}
    if isinstance(exc, exceptions.ValidationError):
        body["message"] = "The request is not valid."
        detail = exc.detail
        body["fields"] = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    else:
        body["message"] = str(exc.detail)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait) + 1)
    set_rollback()
    # Errors are plain JSON whichever format was asked for (e.g. ?format=ocsf).
    return Response(
        {"error": body},
        status=exc.status_code,
        headers=headers,
        content_type="application/json",
    )
