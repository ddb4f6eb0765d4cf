"""django-allauth adapters: no open sign-up; SSO logins only for users an admin created."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class NoSignupAccountAdapter(DefaultAccountAdapter):
    """Accounts are created by tenant admins, never by visitors."""

    def is_open_for_signup(self, request) -> bool:
        return False


class SsoSocialAccountAdapter(DefaultSocialAccountAdapter):
    """SSO (OIDC) may log in existing users; it never creates one on its own."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False
