"""Signed one-time links that tie a Slack user to a portal user, and response_url checks.

The link carries (nonce, tenant, team, Slack user) signed with TimestampSigner under its
own salt; it expires after ``LINK_MAX_AGE_S`` and its nonce row makes it single-use. The
reviewer opens it while logged in to the portal: that session is the proof of identity.
A matching e-mail address is never enough.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from approvals.models import SlackLinkNonce, SlackWorkspace
from sgportal.audit import record_audit, snapshot
from sgportal.models import AuditAction, SlackIdentity, Tenant
from sgportal.tenancy import Role, has_role

LINK_SALT = "approvals.slack.link"
LINK_MAX_AGE_S = 15 * 60


class LinkError(Exception):
    """The link is invalid, expired, already used, or not for this user."""


@dataclass(frozen=True)
class LinkClaim:
    nonce: str
    tenant_id: int
    team_id: str
    slack_user_id: str


def make_link_url(
    tenant: Tenant, team_id: str, slack_user_id: str, slack_username: str = ""
) -> str:
    """Create a nonce row and return the absolute URL of the signed link."""
    # Keep the table small: links older than a day are dead anyway (15-minute signature).
    SlackLinkNonce.objects.filter(created_at__lt=timezone.now() - dt.timedelta(days=1)).delete()
    nonce = SlackLinkNonce.objects.create(
        tenant=tenant,
        team_id=team_id,
        slack_user_id=slack_user_id,
        slack_username=slack_username[:100],
    )
    token = signing.TimestampSigner(salt=LINK_SALT).sign_object(
        {"n": nonce.nonce, "t": tenant.pk, "team": team_id, "u": slack_user_id}, compress=True
    )
    return settings.SITE_URL + reverse("approvals:slack_link", args=[token])


def read_link_token(token: str) -> LinkClaim:
    """Verify the signature and age; raises LinkError."""
    try:
        data = signing.TimestampSigner(salt=LINK_SALT).unsign_object(token, max_age=LINK_MAX_AGE_S)
    except signing.SignatureExpired:
        raise LinkError(
            "This link has expired. Click a button in Slack again for a new one."
        ) from None
    except signing.BadSignature:
        raise LinkError("This link is not valid.") from None
    try:
        return LinkClaim(str(data["n"]), int(data["t"]), str(data["team"]), str(data["u"]))
    except (KeyError, TypeError, ValueError):
        raise LinkError("This link is not valid.") from None


def _origin(entry: str) -> tuple[str, str]:
    """("https", host) for a bare host, else the entry's own scheme and host:port."""
    if "://" not in entry:
        return ("https", entry.strip().lower())
    parts = urlsplit(entry.strip())
    return (parts.scheme, parts.netloc.lower())


def response_url_allowed(url: str) -> bool:
    """Only the hosts in ``SLACK_RESPONSE_URL_HOSTS`` (Slack's hooks host by default)."""
    parts = urlsplit(url or "")
    allowed = {_origin(entry) for entry in settings.SLACK_RESPONSE_URL_HOSTS if entry.strip()}
    return (parts.scheme, parts.netloc.lower()) in allowed


def link_slack_identity(claim: LinkClaim, user) -> SlackIdentity:
    """Consume the link's nonce and tie the Slack user to ``user``, audited.

    Raises LinkError if the nonce is unknown or used, or the user is not in the tenant.
    """
    if not has_role(user, claim.tenant_id, Role.VIEWER):
        raise LinkError("This link is for a tenant you are not a member of.")
    tenant = Tenant.objects.filter(pk=claim.tenant_id, active=True).first()
    if tenant is None or SlackWorkspace.of(tenant).team_id != claim.team_id:
        raise LinkError("This link is not valid.")
    now = timezone.now()
    with transaction.atomic():
        claimed = SlackLinkNonce.objects.filter(
            nonce=claim.nonce,
            tenant_id=claim.tenant_id,
            team_id=claim.team_id,
            slack_user_id=claim.slack_user_id,
            used_at__isnull=True,
        ).update(used_at=now, used_by=user)
        if not claimed:
            raise LinkError("This link has already been used. Click in Slack again for a new one.")
        existing = (
            SlackIdentity.objects.select_for_update()
            .filter(team_id=claim.team_id, slack_user_id=claim.slack_user_id)
            .first()
        )
        before = snapshot(existing) if existing else None
        identity, _ = SlackIdentity.objects.update_or_create(
            team_id=claim.team_id,
            slack_user_id=claim.slack_user_id,
            defaults={
                "tenant": tenant,
                "user": user,
                "verified_at": now,
                "linked_via": "signed_link",
            },
        )
        record_audit(
            tenant,
            AuditAction.SLACK_LINK,
            actor=user,
            via="web",
            obj=identity,
            before=before,
            after=snapshot(identity),
        )
    return identity
