"""Who is who at sign-in: allauth adapters, the login limiter's keys, verified-email lookups.

- No password sign-up. Single sign-on may create a person (the identity provider vouches for
  them); a first SSO login is tied to an existing user only through the provider's *verified*
  email claim matching a *verified* address here. A new person has no tenant access until a
  grant or an identity-provider group mapping gives it (``sgportal.sso``).
- ``SGPORTAL_PASSWORD_LOGIN`` off: the password backends refuse every password and
  ``PasswordLoginGateMiddleware`` closes the password doors (``/accounts/login/`` form,
  ``/admin/login/``, password reset and change), so single sign-on is the only way in.
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
from allauth.account.auth_backends import AuthenticationBackend
from allauth.account.internal.flows.manage_email import can_mark_as_primary
from allauth.account.models import EmailAddress
from allauth.account.views import EmailView
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

log = logging.getLogger(__name__)

MAIL_FAILED = (
    "The email could not be sent: this server cannot deliver mail right now. "
    "Nothing was sent; ask your sgportal administrator."
)
UNVERIFIED_PRIMARY = "Only a verified address can be your primary address. Verify it first."
PASSWORD_LOGIN_OFF = "Password sign-in is turned off here: sign in with single sign-on."  # noqa: S105
# allauth's password pages, closed while password sign-in is off (the login page stays: it
# carries the single sign-on buttons; only its password form is refused).
PASSWORD_VIEWS = {
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "account_change_password",
    "account_set_password",
    "account_signup",
}


def password_login_enabled() -> bool:
    """Whether local passwords may sign anyone in (``SGPORTAL_PASSWORD_LOGIN``)."""
    return bool(getattr(settings, "SGPORTAL_PASSWORD_LOGIN", True))


def sign_in_context(request) -> dict:
    """Template context: whether the sign-in page offers a password form."""
    return {"sgportal_password_login": password_login_enabled()}


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


class PasswordModelBackend(ModelBackend):
    """Django's password backend, silent while password sign-in is off."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not password_login_enabled():
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class PasswordAuthenticationBackend(AuthenticationBackend):
    """allauth's backend (username or email + password), silent while password sign-in is off;
    it stays installed for allauth's own logins (SSO) and session lookups."""

    def authenticate(self, request, **credentials):
        if not password_login_enabled():
            return None
        return super().authenticate(request, **credentials)


class PasswordLoginGateMiddleware:
    """While password sign-in is off: ``/admin/login/`` sends to the sign-in page (SSO), a
    password posted to ``/accounts/login/`` is refused unchecked, and the password reset,
    change and sign-up pages answer with the sign-in page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if password_login_enabled():
            return None
        match = request.resolver_match
        name = match.view_name if match else ""
        login_url = reverse("account_login")
        if name == "admin:login":
            if request.method == "GET" and request.user.is_authenticated:
                return None  # the admin's own "not authorized" page (no loop via SSO)
            target = request.GET.get("next") or reverse("admin:index")
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
                target = reverse("admin:index")
            return HttpResponseRedirect(f"{login_url}?{urlencode({'next': target})}")
        if (name == "account_login" and request.method == "POST") or name in PASSWORD_VIEWS:
            messages.error(request, PASSWORD_LOGIN_OFF)
            return HttpResponseRedirect(login_url)
        return None


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
    """Single sign-on may create a person (sign-up through SSO only: the password adapter
    stays closed). A first SSO login is tied to the one user whose verified address equals
    the identity provider's *verified* email; an unverified claim or address matches nobody.

    Verified means: OpenID Connect's ``email_verified`` claim is true; for SAML, the
    assertion's ``email_verified`` attribute is true, or the operator vouches for the IdP's
    addresses (``SSO_SAML_EMAILS_VERIFIED=1``: only for an IdP whose users cannot set their
    own address)."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return True

    def is_email_verified(self, provider, email: str) -> bool:
        return provider.id == "saml" and bool(provider.app.settings.get("emails_verified"))

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
