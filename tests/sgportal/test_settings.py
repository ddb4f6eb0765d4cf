"""Settings come from the environment through strict readers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from sgportal import env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("SG_T", "SG_T_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_it_reads_booleans_strictly(clean_env):
    clean_env.setenv("SG_T", "yes")
    assert env.env_bool("SG_T", False) is True
    clean_env.setenv("SG_T", "0")
    assert env.env_bool("SG_T", True) is False
    clean_env.setenv("SG_T", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SG_T='maybe' is not a boolean"):
        env.env_bool("SG_T", False)


def test_it_reads_integers_with_a_minimum(clean_env):
    assert env.env_int("SG_T", 60) == 60
    clean_env.setenv("SG_T", "15")
    assert env.env_int("SG_T", 60, minimum=5) == 15
    clean_env.setenv("SG_T", "1")
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 5"):
        env.env_int("SG_T", 60, minimum=5)
    clean_env.setenv("SG_T", "sixty")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env.env_int("SG_T", 60)


def test_it_reads_secrets_from_a_file(clean_env, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    clean_env.setenv("SG_T_FILE", str(secret))
    assert env.env_str("SG_T") == "s3cret-value"
    clean_env.setenv("SG_T", "direct")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env.env_str("SG_T")


def test_it_fails_clearly_on_an_unreadable_secret_file(clean_env, tmp_path):
    clean_env.setenv("SG_T_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env.env_str("SG_T")


def test_it_splits_lists(clean_env):
    clean_env.setenv("SG_T", "a.example.com, b.example.com,,")
    assert env.env_list("SG_T", []) == ["a.example.com", "b.example.com"]


def _manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    environ.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-0123456789abcdefghijklmnop",
    "ALLOWED_HOSTS": "sgportal.example.com",
    "DATABASE_URL": "postgres://sg:pw@db.example.com:5432/sgportal",
    "AUDIT_HMAC_KEY": "audit-hmac-key-kept-outside-the-database-0123456789",
}


def test_it_passes_the_deploy_checks_with_production_values():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    environ = dict(PRODUCTION_ENV)
    del environ["SECRET_KEY"]
    result = _manage("check", **environ)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_it_names_the_variable_on_a_bad_value():
    result = _manage("check", SGPORTAL_POLL_INTERVAL_S="soon")
    assert result.returncode != 0
    assert "SGPORTAL_POLL_INTERVAL_S='soon' is not an integer" in result.stderr


def test_it_uses_postgres_from_database_url():
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    result = _manage("shell", "--no-imports", "-c", code, DATABASE_URL="postgres://u:p@h:5432/n")
    assert result.stdout.strip() == "django.db.backends.postgresql"
    result = _manage("shell", "--no-imports", "-c", code, DATABASE_URL="sqlite:///tmp/x.sqlite3")
    assert result.stdout.strip() == "django.db.backends.sqlite3"
