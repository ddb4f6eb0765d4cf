"""X-Forwarded-Proto / -For count only from TRUSTED_PROXIES; a regex filter in the admin that
does not compile is a 400, not a 500."""

from __future__ import annotations

import ipaddress

import pytest

from sgportal.models import AuditEntry


@pytest.fixture
def https_redirects(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXY_NETWORKS = (ipaddress.ip_network("10.9.0.0/16"),)


def test_a_client_cannot_claim_https_with_x_forwarded_proto(client, db, https_redirects):
    response = client.get(
        "/accounts/login/", REMOTE_ADDR="198.51.100.66", headers={"X-Forwarded-Proto": "https"}
    )
    assert response.status_code == 301 and response["Location"].startswith("https://")


def test_a_trusted_proxy_may_say_https(client, db, https_redirects):
    response = client.get(
        "/accounts/login/", REMOTE_ADDR="10.9.3.4", headers={"X-Forwarded-Proto": "https"}
    )
    assert response.status_code == 200
    assert response.wsgi_request.is_secure()


def test_x_forwarded_for_from_a_client_is_dropped(client, db, settings):
    settings.TRUSTED_PROXY_NETWORKS = ()
    response = client.get(
        "/healthz", REMOTE_ADDR="198.51.100.66", headers={"X-Forwarded-For": "10.0.0.1"}
    )
    assert response.wsgi_request.META["REMOTE_ADDR"] == "198.51.100.66"
    assert "HTTP_X_FORWARDED_FOR" not in response.wsgi_request.META


def test_a_trusted_proxy_names_the_client(client, db, settings):
    settings.TRUSTED_PROXY_NETWORKS = (ipaddress.ip_network("10.9.0.0/16"),)
    response = client.get(
        "/healthz",
        REMOTE_ADDR="10.9.0.5",
        headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.9.0.8"},
    )
    # The right-most hop that is not a trusted proxy; what the client itself wrote is ignored.
    assert response.wsgi_request.META["REMOTE_ADDR"] == "203.0.113.9"


def test_trusted_proxies_must_be_addresses():
    from tests.sgportal.test_settings import _manage

    result = _manage("check", TRUSTED_PROXIES="10.0.0.0/8,proxy.internal")
    assert result.returncode != 0 and "TRUSTED_PROXIES" in result.stderr


@pytest.mark.parametrize("lookup", ["name__regex", "name__iregex", "account_id__regex"])
@pytest.mark.parametrize("pattern", ["(", "[a-", "*x"])
def test_an_invalid_regex_filter_in_the_admin_is_a_400(
    client, admin_user, account, lookup, pattern
):
    client.force_login(admin_user)
    entries = AuditEntry.objects.count()
    response = client.get("/admin/sgportal/awsaccount/", {lookup: pattern})
    assert response.status_code == 400
    assert b"Invalid regular expression" in response.content
    assert AuditEntry.objects.count() == entries


@pytest.mark.postgres
def test_a_regex_postgres_refuses_is_a_400_too(client, admin_user, account):
    client.force_login(admin_user)
    # Valid for Python's re, not for PostgreSQL's regex dialect.
    response = client.get("/admin/sgportal/awsaccount/", {"name__regex": "(?P<n>prod)"})
    assert response.status_code == 400


def test_a_valid_regex_filter_still_filters_and_outsiders_see_nothing(
    client, admin_user, outsider, account, other_account
):
    client.force_login(admin_user)
    page = client.get("/admin/sgportal/awsaccount/", {"name__regex": "^prod-"})
    assert page.status_code == 200 and b"111111111111" in page.content
    client.force_login(outsider)
    page = client.get("/admin/sgportal/awsaccount/", {"name__regex": "^prod-"})
    assert page.status_code == 200 and b"111111111111" not in page.content
