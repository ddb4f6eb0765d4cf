"""Template helpers of the web pages: severity badges and the navigation's role checks."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.html import format_html

from approvals.charts import LEVELS
from sgportal.models import Membership
from sgportal.tenancy import Role, roles_at_least

register = template.Library()


@register.simple_tag
def severity_badge(severity) -> str:
    """Colour, icon and word: readable without colour (the icon is decorative)."""
    level = getattr(severity, "level", 0) or 0
    word, _colour, icon = LEVELS.get(level, LEVELS[0])
    return format_html(
        '<span class="sev sev-{}" title="{}"><span aria-hidden="true">{}</span> {}</span>',
        level,
        getattr(severity, "label", word),
        icon,
        word,
    )


@register.simple_tag
def utc_time(value) -> str:
    """A time in UTC with its ISO form for machines (and the reader's zone by script)."""
    if not value:
        return ""
    value = value.astimezone(dt.UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        value.isoformat(),
        value.strftime("%Y-%m-%d %H:%M:%S"),
        value.strftime("%Y-%m-%d %H:%M UTC"),
    )


@register.simple_tag(takes_context=True)
def portal_nav(context) -> dict:
    """Which pages the signed-in user's roles open (audit: approvers; ingestion: admins)."""
    user = context.get("user")
    if not getattr(user, "is_authenticated", False):
        return {}
    if user.is_superuser:
        roles = {Role.APPROVER, Role.ADMIN}
    else:
        roles = set(
            Membership.objects.filter(user=user, tenant__active=True).values_list("role", flat=True)
        )
    return {
        "audit": bool(roles & set(roles_at_least(Role.APPROVER))),
        "ingestion": Role.ADMIN in roles,
    }
