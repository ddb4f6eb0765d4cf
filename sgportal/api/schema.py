"""The OpenAPI description every API view shares: the error answers it can give.

drf-spectacular documents only the success of an operation. A client (and schemathesis)
must also find the refusals: 401 bad token, 403 missing scope, 429 throttled everywhere;
400 where query parameters or a body are read; 404 on detail routes; 409 on decisions.
All of them have the one error body of ``sgportal.api.errors``.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


def cursor_format(feed_name: str) -> str:
    """The OpenAPI string format of one feed's cursors: an opaque next_cursor that list
    handed out, "" or "0" for the start (a custom format, so fuzzers can be taught it)."""
    return f"sgp-cursor-{feed_name}"


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable code, see docs/api.md (Errors).")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Per field (or query parameter) messages; validation errors only.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class ApiAutoSchema(AutoSchema):
    """AutoSchema plus the JSON errors each operation can answer."""

    def _error_codes(self) -> dict[str, str]:
        codes = {
            "401": "No token, or an invalid, expired or revoked one.",
            "403": "The token lacks the scope this call needs.",
            "429": "Too many requests for this token; see Retry-After.",
        }
        if self.method == "GET" and self._is_list_view() or self.method != "GET":
            codes["400"] = "A bad query parameter, cursor, page size or body."
        if "{" in self.path:
            codes["404"] = "No such object for this token's tenant."
        if self.method == "POST":
            codes["409"] = "The object's current state does not allow it."
        return codes

    def _get_response_bodies(self, direction="response") -> dict:
        responses = super()._get_response_bodies(direction)
        error = self.resolve_serializer(ErrorSerializer, direction).ref
        for code, description in self._error_codes().items():
            responses.setdefault(
                code,
                {"description": description, "content": {"application/json": {"schema": error}}},
            )
        return responses

    def _get_response_headers_for_code(self, status_code, direction="response") -> dict:
        headers = super()._get_response_headers_for_code(status_code, direction)
        if str(status_code) == "429":
            headers["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds to wait before the next request.",
            }
        return headers
