"""docker-compose.yml cannot be run here (no Docker engine), so check what can be checked:
every service's command names a real entry point, every variable it sets is read, every
long-running service has a healthcheck, secrets are files with no default password — and run
the app services' commands and healthchecks on this machine from the compose environment."""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import get_commands

from scripts import healthcheck
from sgportal import env
from tests.e2e.worker import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = [name for name, svc in COMPOSE["services"].items() if svc.get("build")]


def check_entry_point(command: list[str]) -> None:
    program, *args = command
    if program == "gunicorn":
        module_name, _, attr = args[0].partition(":")
        assert callable(getattr(importlib.import_module(module_name), attr))
    elif program == "celery":
        assert args[0] == "-A"
        app_module = importlib.import_module(f"{args[1]}.celery")
        assert app_module.app.main == "sgportal"
        assert args[2] in {"worker", "beat"}
    elif program == "python":
        assert args[0] == "manage.py"
        assert args[1] in get_commands(), f"unknown management command {args[1]}"
    else:
        pytest.fail(f"unexpected program {program!r}")


def test_the_stack_has_the_services_the_design_names():
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(COMPOSE["services"])
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in COMPOSE["services"][name], name


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_command_names_a_real_entry_point(service):
    check_entry_point(COMPOSE["services"][service]["command"])


def test_the_dockerfile_default_command_is_a_real_entry_point():
    cmd_line = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")
    )
    check_entry_point(yaml.safe_load(cmd_line.removeprefix("CMD ")))


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_environment_variable_is_one_the_settings_read(service):
    variables = set(COMPOSE["services"][service]["environment"])
    assert variables, service
    unknown = variables - env.READ - GUNICORN_VARS
    assert not unknown, f"{service} sets variables the settings never read: {sorted(unknown)}"


def test_the_checker_catches_an_unknown_command():
    with pytest.raises(AssertionError):
        check_entry_point(["python", "manage.py", "no_such_command"])


# --- healthchecks, secrets as files, no default passwords (issue 16 item 5) ----------------
SECRET_NAME = re.compile(r"PASSWORD|SECRET(?!S_DIR)|TOKEN|_KEYS?$|^DATABASE_URL$")
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}")
GUNICORN_VARS = set(
    re.findall(r'os\.environ\.get\("(\w+)"', (ROOT / "gunicorn.conf.py").read_text())
)


def long_running(name: str) -> bool:
    return COMPOSE["services"][name].get("restart", "no") != "no"


def test_every_long_running_service_has_a_healthcheck():
    services = [name for name in COMPOSE["services"] if long_running(name)]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    for name in services:
        assert COMPOSE["services"][name]["healthcheck"]["test"], name
    assert "healthcheck" not in COMPOSE["services"]["migrate"]  # one-shot


@pytest.mark.parametrize("service", ["web", "worker", "beat"])
def test_app_healthchecks_run_the_healthcheck_script(service):
    program, script, *args = COMPOSE["services"][service]["healthcheck"]["test"][1:]
    assert (program, script) == ("python", "scripts/healthcheck.py")
    assert healthcheck.build_parser().parse_args(args).service == service


def test_secrets_are_files_from_compose_secrets():
    declared = COMPOSE["secrets"]
    for name, service in COMPOSE["services"].items():
        mounted = set(service.get("secrets", []))
        for variable, value in service.get("environment", {}).items():
            if SECRET_NAME.search(variable):
                assert variable.endswith("_FILE"), f"{name}: {variable} is a secret as a value"
            if variable.endswith("_FILE"):
                secret = value.removeprefix("/run/secrets/")
                assert value == f"/run/secrets/{secret}" and secret in mounted, (name, variable)
        for secret in mounted:
            assert "file" in declared[secret], secret
            assert "${SGPORTAL_SECRETS_DIR:-./secrets}/" in declared[secret]["file"]


def test_every_secret_the_settings_read_is_given_as_a_file():
    app_env = COMPOSE["services"]["web"]["environment"]
    for name in ("SECRET_KEY", "AUDIT_HMAC_KEY", "DATABASE_URL", "SLACK_SIGNING_SECRET"):
        assert f"{name}_FILE" in app_env and name not in app_env, name
    assert COMPOSE["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"]


def test_no_default_passwords():
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", text), "credentials in a URL"
    for name, operator, _default in INTERPOLATION.findall(text):
        if SECRET_NAME.search(name):
            assert operator != ":-", f"{name} has a default value"
    for service in COMPOSE["services"].values():
        for variable in service.get("environment", {}):
            assert not (SECRET_NAME.search(variable) and not variable.endswith("_FILE"))


def test_the_image_keeps_secrets_and_local_data_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in ("secrets/", ".git/", ".venv/", "demo-data/"):
        assert entry in ignored, entry


# --- the stack's commands, run here from the compose environment (no Docker needed) --------
def interpolate(value: str, environ: dict[str, str]) -> str:
    """docker compose's ${NAME}, ${NAME:-default} and ${NAME:?error} (empty counts as unset)."""

    def replace(match: re.Match) -> str:
        name, operator, argument = match.groups()
        current = environ.get(name) or ""
        if current:
            return current
        if operator == ":?":
            raise LookupError(f"{name}: {argument}")
        return argument or ""

    return INTERPOLATION.sub(replace, value.replace("$$", "\0")).replace("\0", "$")


def test_interpolation_refuses_a_missing_required_variable():
    with pytest.raises(LookupError, match="ALLOWED_HOSTS"):
        interpolate(COMPOSE["x-app-env"]["ALLOWED_HOSTS"], {})
    assert interpolate("${A:-x}-${B}-$${C}", {"B": "b"}) == "x-b-${C}"


@pytest.fixture
def stack_env(transactional_db, tmp_path):
    """The app containers' environment as compose builds it, with the secrets as files in
    tmp_path and the hosts postgres/redis pointing at this run's servers."""
    from django.conf import settings
    from django.db import connection

    from tests.e2e.worker import database_url

    operator = {
        "ALLOWED_HOSTS": "sgportal.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://sgportal.example.com",
        "SITE_URL": "https://sgportal.example.com",
        "SGPORTAL_AWS_PRINCIPAL": "arn:aws:iam::111111111111:role/sgportal-worker",
    }
    broker = urlsplit(settings.CELERY_BROKER_URL).netloc
    secrets = {
        "database_url": database_url(connection.settings_dict),
        "secret_key": "k" * 50,
        "audit_hmac_key": "h" * 40,
        "field_encryption_keys": "",
        "slack_signing_secret": "",
        "metrics_token": "scrape-me",
        "sso_oidc_client_secret": "",
        "email_host_password": "",
    }
    for name, content in secrets.items():
        (tmp_path / name).write_text(content + "\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SGPORTAL_", "CELERY_"))}
    for variable in [*COMPOSE["x-app-env"], "DATABASE_URL", "DJANGO_SETTINGS_MODULE"]:
        environ.pop(variable, None)
    for variable, value in COMPOSE["services"]["web"]["environment"].items():
        value = interpolate(str(value), operator)
        value = value.replace("/run/secrets/", f"{tmp_path}/").replace("redis:6379", broker)
        environ[variable] = value
    environ.update(WEB_CONCURRENCY="1", WEB_THREADS="2", PYTHONUNBUFFERED="1")
    return environ


def run(command: list[str], environ: dict, **kwargs) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).with_name(command[0]) if command[0] != "python" else None
    argv = [str(binary) if binary else sys.executable, *command[1:]]
    return subprocess.run(argv, cwd=ROOT, env=environ, capture_output=True, text=True, **kwargs)


def start(command: list[str], environ: dict, log: Path) -> subprocess.Popen:
    argv = [str(Path(sys.executable).with_name(command[0])), *command[1:]]
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=environ,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.postgres
def test_migrate_and_web_run_from_the_compose_environment_and_pass_their_healthcheck(
    stack_env, tmp_path
):
    migrate = run(COMPOSE["services"]["migrate"]["command"], stack_env, timeout=120)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    port = free_port()
    command = [*COMPOSE["services"]["web"]["command"][:-1], f"127.0.0.1:{port}"]
    web = start(command, stack_env, tmp_path / "web.log")
    check = ["python", "scripts/healthcheck.py", "web", "--url", f"http://127.0.0.1:{port}/healthz"]
    try:
        assert until(lambda: run(check, stack_env, timeout=20).returncode == 0, 60), (
            tmp_path / "web.log"
        ).read_text()[-3000:]
        # Without the Host header the check sends, Django refuses 127.0.0.1 (not allowed).
        plain = run(
            [
                "python",
                "-c",
                f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz')",
            ],
            stack_env,
            timeout=20,
        )
        assert "HTTP Error 400" in plain.stderr
        # /metrics wants the token read from its secret file.
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Host": "sgportal.example.com", "Authorization": "Bearer scrape-me"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert b"sgportal_tenants" in response.read()
    finally:
        stop(web)
    failing = run(check, stack_env, timeout=20)
    assert failing.returncode == 1 and "unhealthy" in failing.stderr


@pytest.mark.postgres
def test_worker_runs_from_the_compose_environment_and_answers_its_healthcheck(stack_env, tmp_path):
    command = [
        "--concurrency=1" if part.startswith("--concurrency=") else part
        for part in COMPOSE["services"]["worker"]["command"]
    ]
    check = ["python", "scripts/healthcheck.py", "worker"]
    assert run(check, stack_env, timeout=30).returncode == 1  # no worker yet
    worker = start(command, stack_env, tmp_path / "worker.log")
    try:
        assert until(lambda: run(check, stack_env, timeout=30).returncode == 0, 90), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
    finally:
        stop(worker)


@pytest.mark.postgres
def test_beat_runs_from_the_compose_environment_and_its_healthcheck_follows_last_runs(
    stack_env, tmp_path
):
    from django.conf import settings
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    beat = start(COMPOSE["services"]["beat"]["command"], stack_env, tmp_path / "beat.log")
    try:
        names = set(settings.CELERY_BEAT_SCHEDULE)
        assert until(
            lambda: names <= set(PeriodicTask.objects.values_list("name", flat=True)), 60
        ), (tmp_path / "beat.log").read_text()[-3000:]
    finally:
        stop(beat)
    PeriodicTask.objects.update(last_run_at=timezone.now() - timedelta(hours=1))
    assert healthcheck.beat_ok(600) == (False, "beat sent no scheduled task in the last 600 s")
    task = PeriodicTask.objects.get(name=next(iter(names)))
    task.last_run_at = timezone.now()
    task.save()
    assert healthcheck.beat_ok(600)[0] is True
    PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)
    assert healthcheck.beat_ok(600)[0] is False
    assert IntervalSchedule.objects.exists()


def test_the_web_healthcheck_sends_a_host_django_allows():
    from django.http.request import validate_host

    for allowed in (["sgportal.example.com"], [".example.com"], ["*"], ["", "a.example"]):
        assert validate_host(healthcheck.host_header(allowed), allowed), allowed


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        ("secret_key", "SECRET_KEY"),
        ("audit_hmac_key", "AUDIT_HMAC_KEY"),
        ("database_url", "DATABASE_URL"),
    ],
)
def test_an_empty_required_secret_file_stops_start_up_naming_it(stack_env, tmp_path, secret, named):
    (tmp_path / secret).write_text("\n")
    result = run(["python", "manage.py", "check"], stack_env, timeout=60)
    assert result.returncode != 0
    assert named in result.stderr.splitlines()[-1], result.stderr[-1500:]


REQUIRED = {
    "ALLOWED_HOSTS": "sgportal.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://sgportal.example.com",
    "SITE_URL": "https://sgportal.example.com",
    "SGPORTAL_AWS_PRINCIPAL": "arn:aws:iam::123456789012:role/sgportal",
}


def compose_config(tmp_path, **environ: str) -> subprocess.CompletedProcess:
    """``docker-compose config`` (Debian's docker-compose, no daemon needed): Compose's own
    validation and interpolation of the file, secrets from a scratch directory."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    for name in COMPOSE["secrets"]:
        (secrets / name).write_text("x\n")
    env = {"PATH": os.environ["PATH"], "SGPORTAL_SECRETS_DIR": str(secrets), **environ}
    return subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docker_compose_config_accepts_the_file(tmp_path):
    result = compose_config(tmp_path, **REQUIRED)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) == set(COMPOSE["services"])
    web = rendered["services"]["web"]["environment"]
    assert web["ALLOWED_HOSTS"] == "sgportal.example.com" and web["DEBUG"] == "0"


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_docker_compose_config_refuses_a_missing_required_setting(tmp_path, missing):
    result = compose_config(tmp_path, **{k: v for k, v in REQUIRED.items() if k != missing})
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr
