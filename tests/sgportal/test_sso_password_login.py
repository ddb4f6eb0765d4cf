"""SGPORTAL_PASSWORD_LOGIN: off, no password signs anyone in through any door (and the login
limiter still guards the doors while it is on); its default follows the SSO configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import authenticate

from sgportal.models import AuditAction, AuditEntry

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-Secret-123"  # noqa: S105 (the factories' password)


@pytest.fixture
def sso_only(settings):
    settings.SGPORTAL_PASSWORD_LOGIN = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_portal_door_refuses_the_right_password(client, sso_only, approver):
    response = client.post("/accounts/login/", {"login": "bob-approver", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not logged_in(client)
    page = client.get("/accounts/login/")
    assert b"Password sign-in is turned off" in page.content  # shown where it was caused
    assert b'name="password"' not in page.content
    assert not AuditEntry.objects.filter(action=AuditAction.LOGIN).exists()


def test_the_admin_door_sends_to_single_sign_on(client, sso_only, admin_user):
    response = client.post(
        "/admin/login/?next=/admin/sgportal/",
        {"username": "alice-admin", "password": PASSWORD, "next": "/admin/sgportal/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fsgportal%2F"
    assert not logged_in(client)
    assert client.get("/admin/login/?next=https://evil.example/")["Location"] == (
        "/accounts/login/?next=%2Fadmin%2F"
    )


def test_a_signed_in_non_staff_person_is_not_bounced_between_the_doors(client, sso_only, viewer):
    client.force_login(viewer)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 200
    assert len(response.redirect_chain) == 1  # /admin/ -> the admin's own login page
    assert b"not authorized" in response.content


def test_no_backend_accepts_a_password_and_reset_is_closed(rf, client, sso_only, approver):
    assert authenticate(rf.post("/"), username="bob-approver", password=PASSWORD) is None
    response = client.post("/accounts/password/reset/", {"email": approver.email})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"


def test_with_password_login_on_the_limiter_still_guards_the_door(client, settings, approver):
    settings.SGPORTAL_PASSWORD_LOGIN = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for _ in range(5):
        client.post("/accounts/login/", {"login": "bob-approver", "password": "guess"})
    response = client.post("/accounts/login/", {"login": "bob-approver", "password": PASSWORD})
    assert response.status_code == 429
    assert not logged_in(client)


def _password_login_default(**env: str) -> str:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "SSO_", "SGPORTAL_PASSWORD", "SGPORTAL_DEMO"))
    }
    environ.update(env)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings as s; "
            "print(s.SGPORTAL_PASSWORD_LOGIN, sorted(s.SOCIALACCOUNT_PROVIDERS))",
        ],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-0123456789abcdefghijklmnop",
    "ALLOWED_HOSTS": "sgportal.example.com",
    "AUDIT_HMAC_KEY": "test-audit-hmac-key-0123456789abcdefghijklmnop",
}
OIDC = {
    "SSO_OIDC_ISSUER": "https://login.acme.example",
    "SSO_OIDC_CLIENT_ID": "sgportal",
    "SSO_OIDC_NAME": "Acme Okta",
}


def test_the_default_is_off_with_sso_in_production_and_on_otherwise(tmp_path):
    secret = tmp_path / "oidc-secret"
    secret.write_text("from-a-file\n")
    oidc = {**OIDC, "SSO_OIDC_CLIENT_SECRET_FILE": str(secret)}
    assert _password_login_default(**PRODUCTION) == "True []"
    assert _password_login_default(**PRODUCTION, **oidc) == "False ['openid_connect']"
    assert _password_login_default(**PRODUCTION, **oidc, SGPORTAL_DEMO="1").startswith("True")
    assert _password_login_default(**oidc).startswith("True")  # DEBUG (a laptop)
    assert _password_login_default(**PRODUCTION, **oidc, SGPORTAL_PASSWORD_LOGIN="1").startswith(
        "True"
    )
