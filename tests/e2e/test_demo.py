"""`make demo` stays true: the demo starts on embedded defaults, a trickled change reaches the
queue, a reviewer denies it on the web, and a real worker reverts it in the AWS emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_the_demo_runs_a_change_from_arrival_to_revert(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/demo.py", "--smoke"],
        cwd=ROOT,
        env=_demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=280,
    )
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in tmp_path.glob("*.log"))
    assert result.returncode == 0, result.stdout + result.stderr + logs
    out = result.stdout
    assert "smoke: a change arrived in the queue" in out
    assert "now: Reverted" in out
    # Start-up prints the API token (read scope) and where the docs and the Slack page are.
    assert re.search(r"API token \(read, 1 day\): sgp_\w+", out), out
    assert "/api/v1/docs/" in out and "Slack stand-in (the posted messages" in out
    assert "smoke: the printed token reads the API: True (docs page: 200)" in out
    # A second start on the busy port fails fast, with the fix.
    assert re.search(r"smoke: a second start on port \d+ failed fast: True \((0|1)\.\d s\)", out)
    assert "smoke: dashboard has history: True" in out
    # SSO beside the password login: dana signs in at the demo's OpenID Connect provider
    # and her identity-provider group makes her an approver.
    assert "smoke: signed in with Demo SSO as dana: True" in out
    assert "roles: [('approver', 'idp_group')]" in out
    # The trickle's changes came through EventBridge and nothing bypassed ingestion.
    assert re.search(r"smoke: changes through EventBridge: [1-9]\d*, stored another way: 0", out)
    if (ROOT / "ingestion" / "trail.py").exists():
        assert re.search(r"smoke: changes through the trail .*: [1-9]", out), out
    # Deny clicked in Chromium on the Slack stand-in's page: the demo tenant requires a
    # reason, so sgportal opens its modal; a blank reason is refused there, a typed one
    # denies, and the change is reverted in the emulator.
    assert "smoke: a blank reason was refused in the modal: 'Give a reason" in out, out
    assert "smoke: the modal closed: True" in out, out
    assert re.search(
        r"smoke: denied change \d+ on the Slack stand-in: Reverted after [\d.]+ s; "
        r"its rule is gone from the emulator: True",
        out,
    ), out
    assert "smoke: ok dead=[]" in out


def _demo_env(tmp_path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "AWS_", "CELERY_", "DATABASE_"))
    }
    env["DEMO_DATA"] = str(tmp_path)
    return env


def test_a_busy_port_is_reported_at_once_with_the_fix(tmp_path):
    import socket
    import time

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "scripts/demo.py"],
            cwd=ROOT,
            env={**_demo_env(tmp_path), "DEMO_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=30,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert f"Port {port} is already in use" in result.stderr
    assert "DEMO_PORT=" in result.stderr and "make demo" in result.stderr
    assert elapsed < 5  # nothing was started: no emulator, no migrate (the smoke asks < 2 s)
    assert not list(tmp_path.glob("*.log"))


def test_sighup_stops_every_child_process(tmp_path):
    """Closing the terminal sends SIGHUP: the demo stops every child it started."""
    import signal
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = subprocess.Popen(
        [sys.executable, "scripts/demo.py"],
        cwd=ROOT,
        env={**_demo_env(tmp_path), "DEMO_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    deadline = time.monotonic() + 200
    for line in demo.stdout:
        lines.append(line)
        if "sgportal demo is running" in line or time.monotonic() > deadline:
            break
    assert any("sgportal demo is running" in line for line in lines), "".join(lines)
    children = _children_of(demo.pid)
    assert len(children) >= 8, children  # redis, moto, slack, sso, worker, beat, web, trickle
    demo.send_signal(signal.SIGHUP)
    assert demo.wait(timeout=60) is not None
    time.sleep(1)
    # Each child leads its own session; nothing of those sessions (celery's pool processes,
    # gunicorn-style forks) may be left.
    left = [pid for pid, sid in _sessions() if sid in children and _alive(pid)]
    assert not left, f"left running after SIGHUP: {left}"


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [int(p) for p in out.split()]


def _sessions() -> list[tuple[int, int]]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid="], capture_output=True, text=True).stdout
    return [(int(p), int(s)) for p, s in (line.split() for line in out.splitlines())]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
