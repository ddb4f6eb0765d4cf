"""Filter fields shared by the API's filtersets."""

from __future__ import annotations

import datetime as dt

import django_filters as filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field


class UtcIsoDateTimeField(forms.DateTimeField):
    """An ISO 8601 time with an offset, normalised to UTC; a time whose UTC value is outside
    what Python and PostgreSQL can hold (year 1 to 9999) is a validation error, not a 500."""

    def to_python(self, value):
        parsed = filters.fields.IsoDateTimeField().to_python(value)
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError("Out of range.", code="invalid") from None


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    """``?…_after=`` / ``?…_before=`` in ISO 8601 (e.g. ``2026-09-01T00:00:00Z``)."""

    field_class = UtcIsoDateTimeField


BIGINT_MAX = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT64)
class IdFilter(filters.NumberFilter):
    """An object id: a whole number. One that no row can have (outside PostgreSQL's bigint)
    simply matches nothing — it is a valid question with an empty answer, not a 400."""

    field_class = forms.IntegerField

    def filter(self, qs, value):
        if value is not None and not (0 < value <= BIGINT_MAX):
            return qs.none()
        return super().filter(qs, value)
