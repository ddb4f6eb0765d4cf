"""One login limiter (django-axes, counters in the shared Redis cache) for every login door,
keyed by account and client IP; X-Forwarded-For counts only from TRUSTED_PROXIES; a failed
password is audited once, in one chain."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings as django_settings

from sgportal.models import AuditAction, AuditEntry
from sgportal.tenancy import Role
from tests.factories import MembershipFactory

PASSWORD = "pw-Secret-123"  # noqa: S105 (the factories' password)
ATTACKER, VICTIM_IP = "198.51.100.66", "192.0.2.10"


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    """Dozens of password checks per test: a cheap hasher (users are made after this)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def admin_login(client, username, password, ip=ATTACKER, **headers):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ip,
        headers=headers,
    )


def portal_login(client, login, password, ip=ATTACKER, **headers):
    return client.post(
        "/accounts/login/", {"login": login, "password": password}, REMOTE_ADDR=ip, headers=headers
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_admin_door_locks_after_five_failures_even_with_the_right_password(
    client, admin_user, outsider
):
    for _ in range(4):
        assert admin_login(client, "alice-admin", "guess").status_code == 200
    assert admin_login(client, "alice-admin", "guess").status_code == 429  # the fifth locks
    response = admin_login(client, "alice-admin", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    # Five failed passwords audited; the refused sixth attempt checked no password.
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 5
    assert not AuditEntry.objects.filter(action=AuditAction.LOGIN).exists()


def test_both_doors_share_one_count(client, admin_user):
    for _ in range(3):
        admin_login(client, "alice-admin", "guess")
    assert portal_login(client, "alice-admin", "guess").status_code == 200
    assert portal_login(client, "alice-admin", "guess").status_code == 429
    assert portal_login(client, "alice-admin", PASSWORD).status_code == 429
    assert admin_login(client, "alice-admin", PASSWORD).status_code == 429
    assert not logged_in(client)


def test_other_spellings_of_the_account_count_for_the_same_account(client, admin_user):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=admin_user, email=admin_user.email, verified=True)
    for login in ("alice-admin", "ALICE-ADMIN", "Alice-Admin", admin_user.email, "alice-admin "):
        portal_login(client, login, "guess")
    assert portal_login(client, admin_user.email.upper(), PASSWORD).status_code == 429
    assert not logged_in(client)


def test_the_victim_from_another_address_is_not_locked_out(client, admin_user):
    for _ in range(6):
        admin_login(client, "alice-admin", "guess")
    assert admin_login(client, "alice-admin", PASSWORD).status_code == 429
    response = portal_login(client, "alice-admin", PASSWORD, ip=VICTIM_IP)
    assert response.status_code == 302 and logged_in(client)


def test_a_forged_x_forwarded_for_does_not_reset_the_count(client, admin_user, settings):
    settings.TRUSTED_PROXY_NETWORKS = ()
    for n in range(5):
        admin_login(client, "alice-admin", "guess", X_Forwarded_For=f"203.0.113.{n}")
    response = admin_login(client, "alice-admin", PASSWORD, X_Forwarded_For="203.0.113.99")
    assert response.status_code == 429 and not logged_in(client)


def test_behind_a_trusted_proxy_each_client_is_counted_apart(client, admin_user, settings):
    import ipaddress

    settings.TRUSTED_PROXY_NETWORKS = (ipaddress.ip_network("10.9.0.0/16"),)
    proxy = "10.9.0.5"
    for _ in range(5):
        admin_login(client, "alice-admin", "guess", ip=proxy, X_Forwarded_For=ATTACKER)
    locked = admin_login(client, "alice-admin", PASSWORD, ip=proxy, X_Forwarded_For=ATTACKER)
    assert locked.status_code == 429
    # The proxy's other clients are not locked out with the attacker.
    response = portal_login(
        client, "alice-admin", PASSWORD, ip=proxy, X_Forwarded_For=f"{VICTIM_IP}, 10.9.0.7"
    )
    assert response.status_code == 302 and logged_in(client)


def test_the_counters_live_in_the_shared_redis_cache(client, admin_user):
    assert django_settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    admin_login(client, "alice-admin", "guess")
    other_process = redis.Redis.from_url(django_settings.CACHE_URL)
    assert other_process.keys("sgportal:*"), "no login-failure counter in Redis"


def test_a_failed_login_of_a_member_of_two_tenants_is_audited_once(
    client, admin_user, tenant, other_tenant
):
    MembershipFactory(user=admin_user, tenant=other_tenant, role=Role.VIEWER)
    assert portal_login(client, "alice-admin", "guess").status_code == 200
    [entry] = AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED)
    assert entry.tenant == tenant and entry.object_id == str(admin_user.pk)


def test_an_unknown_name_is_refused_like_a_known_one(client, admin_user):
    for _ in range(5):
        portal_login(client, "nobody-here", "guess")
        portal_login(client, "alice-admin", "guess")
    unknown = portal_login(client, "nobody-here", "guess")
    known = portal_login(client, "alice-admin", "guess")
    assert unknown.status_code == known.status_code == 429
    assert not AuditEntry.objects.filter(object_repr="nobody-here").exists()


@pytest.mark.parametrize("door", ["admin", "portal"])
def test_a_success_before_the_limit_logs_in(client, admin_user, door):
    login = admin_login if door == "admin" else portal_login
    for _ in range(4):
        login(client, "alice-admin", "guess")
    assert login(client, "alice-admin", PASSWORD).status_code == 302
    assert logged_in(client)
