"""Filter fields shared by the API's filtersets."""

from __future__ import annotations

import datetime as dt

import django_filters as filters
from django import forms


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
