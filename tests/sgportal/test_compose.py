"""docker-compose.yml cannot be run here (no Docker engine), so check what can be checked:
every service's command names a real entry point, and every variable it sets is read."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

from sgportal import env

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
    unknown = variables - env.READ
    assert not unknown, f"{service} sets variables the settings never read: {sorted(unknown)}"


def test_the_checker_catches_an_unknown_command():
    with pytest.raises(AssertionError):
        check_entry_point(["python", "manage.py", "no_such_command"])
