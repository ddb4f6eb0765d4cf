"""Without a working mail server, /accounts/email/ and password reset answer with a clear
message instead of a 500."""

from __future__ import annotations

import logging

import pytest
from allauth.account.models import EmailAddress

from sgportal.auth import MAIL_FAILED


@pytest.fixture
def no_smtp(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2


def test_adding_an_address_without_smtp_says_the_mail_was_not_sent(client, viewer, no_smtp, caplog):
    client.force_login(viewer)
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/accounts/email/", {"action_add": "", "email": "carol@new.example"}, follow=True
        )
    assert response.status_code == 200
    assert MAIL_FAILED in response.content.decode()
    assert not EmailAddress.objects.filter(email="carol@new.example", verified=True).exists()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_password_reset_without_smtp_says_the_mail_was_not_sent(client, viewer, no_smtp):
    EmailAddress.objects.create(user=viewer, email=viewer.email, verified=True, primary=True)
    response = client.post("/accounts/password/reset/", {"email": viewer.email}, follow=True)
    assert response.status_code == 200
    assert MAIL_FAILED in response.content.decode()
    viewer.refresh_from_db()
    assert viewer.check_password("pw-Secret-123")


def test_mail_goes_to_the_console_in_debug_and_to_smtp_otherwise():
    from tests.sgportal.test_settings import PRODUCTION_ENV, _manage

    code = "from django.conf import settings; print(settings.EMAIL_BACKEND)"
    debug = _manage("shell", "--no-imports", "-c", code, DEBUG="1")
    assert debug.stdout.strip() == "django.core.mail.backends.console.EmailBackend"
    production = _manage("shell", "--no-imports", "-c", code, **PRODUCTION_ENV)
    assert production.stdout.strip() == "django.core.mail.backends.smtp.EmailBackend"
