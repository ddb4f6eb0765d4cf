"""``{% load sgportal_time %}{{ value|when }}``: an aware datetime as a <time> element that
static/sgportal/localtime.js shows in the reader's time zone (UTC on hover, and UTC without
JavaScript)."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def when(value: dt.datetime | None) -> str:
    """A <time> element for ``value`` (empty for None)."""
    if not value:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    text = value.strftime("%Y-%m-%d %H:%M UTC")
    return format_html(
        '<time class="sg-time" datetime="{}" title="{}">{}</time>',
        value.isoformat().replace("+00:00", "Z"),
        value.strftime("%Y-%m-%d %H:%M:%S UTC"),
        text,
    )
