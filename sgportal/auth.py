"""Who is who at sign-in: allauth adapters, the login limiter's keys, verified-email lookups.

- No open sign-up; SSO logs in only users who exist, matched by the identity provider's
  *verified* email claim against a *verified* address here.
- An email address counts for nothing until verified: ``users_with_verified_email`` is the
  one lookup of users by email (membership forms, SSO matching, login-limit keys).
- One login limiter (django-axes) for every ``authenticate()``: ``LoginLimitBackend`` goes
  first, keyed by ``login_limit_key`` (the account) and ``client_ip`` (REMOTE_ADDR as
  ``sgportal.middleware.TrustedProxyMiddleware`` resolved it).
"""

from __future__ import annotations

import logging
import smtplib

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.manage_email import can_mark_as_primary
from allauth.account.models import EmailAddress
from allauth.account.views import EmailView
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

log = logging.getLogger(__name__)

MAIL_FAILED = (
    "The email could not be sent: this server cannot deliver mail right now. "
    "Nothing was sent; ask your sgportal administrator."
)
UNVERIFIED_PRIMARY = "Only a verified address can be your primary address. Verify it first."


def users_with_verified_email(email: str) -> QuerySet:
    """Active or not, the users holding ``email`` as a *verified* address (case-insensitive).

    ``User.email`` alone never counts: anyone may type any address into their profile."""
    email = (email or "").strip()
    User = get_user_model()
    if not email:
        return User.objects.none()
    verified = EmailAddress.objects.filter(email__iexact=email, verified=True)
    return User.objects.filter(pk__in=verified.values("user_id"))


def account_for_login(identifier: str):
    """The user a login form's identifier names (username, or a verified email), or None."""
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    User = get_user_model()
    user = User.objects.filter(username__iexact=identifier).order_by("pk").first()
    if user is None and "@" in identifier:
        matches = list(users_with_verified_email(identifier)[:2])
        user = matches[0] if len(matches) == 1 else None
    return user


def _identifier(request, credentials: dict | None) -> str:
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email") or credentials.get("login")
    if not value and request is not None and request.method == "POST":
        value = request.POST.get("login") or request.POST.get("username")
    return str(value or "")[:254]


def login_limit_key(request, credentials: dict | None) -> str:
    """The account part of the limiter's key: the same account whatever the form was given
    (username in any case, or a verified email); an unknown name keys on itself."""
    identifier = _identifier(request, credentials)
    user = account_for_login(identifier)
    return f"user:{user.pk}" if user else f"name:{identifier.strip().lower()}"


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, which only a trusted proxy can have rewritten."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


class LoginLimitBackend(AxesStandaloneBackend):
    """django-axes's gate, first of the backends: refuses a locked-out (account, IP) before
    any password is checked, and marks the request so the refusal is not audited as a
    failed password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:  # not a web door (a shell, a command): no client to limit
            return None
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        except AxesBackendPermissionDenied:
            if request is not None:
                request.sgportal_login_refused = True
            raise


class NoSignupAccountAdapter(DefaultAccountAdapter):
    """Accounts are created by tenant admins, never by visitors; mail failures are messages."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        try:
            super().send_mail(template_prefix, email, context)
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("could not send %s mail: %s: %s", template_prefix, type(exc).__name__, exc)
            request = getattr(self, "request", None) or context.get("request")
            if request is not None:
                messages.error(request, MAIL_FAILED)


class SsoSocialAccountAdapter(DefaultSocialAccountAdapter):
    """SSO (OIDC) may log in existing users; it never creates one on its own. A first SSO
    login is tied to the one user whose verified address equals the identity provider's
    *verified* email claim; an unverified claim or address matches nobody."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False

    def pre_social_login(self, request, sociallogin) -> None:
        if sociallogin.is_existing:
            return
        claims = {a.email.strip().lower() for a in sociallogin.email_addresses if a.verified}
        users = {user.pk: user for email in claims for user in users_with_verified_email(email)}
        if len(users) == 1:
            (user,) = users.values()
            if user.is_active:
                sociallogin.connect(request, user)


class VerifiedPrimaryEmailView(EmailView):
    """allauth's /accounts/email/, except that an unverified address can never be made
    primary (allauth allows it while the user has no verified address at all)."""

    def _action_primary(self, request, *args, **kwargs):
        email_address = self._get_email_address(request)
        if email_address is not None and not email_address.verified:
            messages.error(request, UNVERIFIED_PRIMARY)
            return None
        if email_address is not None and not can_mark_as_primary(email_address):
            return None
        return super()._action_primary(request, *args, **kwargs)
