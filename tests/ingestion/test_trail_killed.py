"""A trail reader process SIGKILLed between the upsert and the SQS delete (a real process,
a real kill): the changes it committed stay, the notice comes back after its visibility
timeout, and the next read stores nothing twice and deletes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from ingestion.models import SecurityGroupChange, TrailSource
from ingestion.trail import read_tenant
from tests.e2e.worker import FAKE_CREDENTIALS, database_url
from tests.ingestion.trail_world import log_bytes, log_key, make_trail, realworld_records

ROOT = Path(__file__).resolve().parents[2]
RECORDS = realworld_records()[:5]

pytestmark = pytest.mark.usefixtures("trail_aws")


def reader_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SGPORTAL_"))}
    env.update(FAKE_CREDENTIALS)
    env.update(
        DATABASE_URL=database_url(connection.settings_dict),
        AWS_ENDPOINT_URL=endpoint,
        SGPORTAL_TRAIL_WAIT_S="0",
        SGPORTAL_TRAIL_VISIBILITY_S="2",
        DJANGO_SETTINGS_MODULE="sgportal.settings",
    )
    return env


def test_a_reader_killed_after_the_upsert_leaves_no_duplicate(transactional_db, tenant, account):
    trail = make_trail(tenant)
    key = trail.put(log_key(), log_bytes(RECORDS))
    trail.cloudtrail_notice([key])

    killed = subprocess.run(
        [sys.executable, "-m", "tests.ingestion.trail_killed_reader", tenant.slug],
        cwd=ROOT,
        env=reader_env(os.environ["AWS_ENDPOINT_URL"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    stored = SecurityGroupChange.objects.filter(tenant=tenant)
    assert stored.count() == len(RECORDS)  # the upsert had committed
    assert trail.queue_counts() == (0, 1)  # the notice is in flight, not deleted

    time.sleep(2.5)  # its visibility timeout ends: SQS hands it out again
    totals = read_tenant(tenant, session=trail.reader_session())
    assert (totals.messages, totals.new, totals.duplicates) == (1, 0, len(RECORDS))
    assert stored.count() == len(RECORDS)
    assert trail.queue_counts() == (0, 0)
    assert TrailSource.objects.get(tenant=tenant).new_changes == len(RECORDS)
