"""`make demo` stays true: the demo starts on embedded defaults, a trickled change reaches the
queue, a reviewer denies it on the web, and a real worker reverts it in the AWS emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_the_demo_runs_a_change_from_arrival_to_revert(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "AWS_", "CELERY_", "DATABASE_"))
    }
    env["DEMO_DATA"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "scripts/demo.py", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in tmp_path.glob("*.log"))
    assert result.returncode == 0, result.stdout + result.stderr + logs
    assert "smoke: a change arrived in the queue" in result.stdout
    assert "now: Reverted" in result.stdout
