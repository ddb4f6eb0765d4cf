"""The deadline sweep with a real beat and real workers (issue 15): pending changes past
their deadline get their default outcome exactly once, although the worker applying them
is killed halfway through its chunk and another one takes over."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from approvals.models import Decision
from approvals.policy import apply_policy
from approvals.policy.models import DeadlineStage, PolicyMatch, PolicyRule
from ingestion.models import ChangeStatus
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.factories import ChangeFactory
from tests.e2e.worker import (
    ROOT,
    database_url,
    kill_worker,
    start_worker,
    wait_for,
    worker_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(180)]
SWEEP_S = 10  # SGPORTAL_POLICY_SWEEP_INTERVAL_S's minimum


def start_beat(env: dict[str, str], log: Path, workdir: Path) -> subprocess.Popen:
    """``celery -A sgportal beat`` with the project's scheduler (django-celery-beat)."""
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "sgportal",
        "beat",
        "--loglevel=INFO",
        "--max-interval=1",
        f"--pidfile={workdir / 'beat.pid'}",
        f"--schedule={workdir / 'beat-schedule'}",
    ]
    handle = log.open("ab")
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def test_past_deadlines_get_their_outcome_exactly_once_across_a_worker_restart(
    transactional_db, endpoint, tenant, account, other_account, tmp_path
):
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    PolicyRule.objects.create(
        tenant=tenant, name="prod", match={}, deadline_minutes=60, default_outcome="approve"
    )
    first, second = ChangeFactory(account=account), ChangeFactory(account=account)
    theirs = ChangeFactory(account=other_account)  # another tenant's, no deadline passed
    apply_policy(tenant.pk, [first.pk, second.pk])
    apply_policy(theirs.tenant_id, [theirs.pk])
    assert PolicyMatch.objects.filter(stage=DeadlineStage.WAITING).count() == 3
    their_due = PolicyMatch.objects.get(pk=theirs.pk).due_at  # a day away (built-in rule)
    # Both of this tenant's deadlines passed a minute ago.
    PolicyMatch.objects.filter(pk__in=[first.pk, second.pk]).update(
        due_at=timezone.now() - timedelta(minutes=1)
    )

    common = {
        "database": database_url(connection.settings_dict),
        "broker": settings.CELERY_BROKER_URL,
        "endpoint": endpoint,
        "SGPORTAL_POLICY_SWEEP_INTERVAL_S": str(SWEEP_S),
    }
    marker = tmp_path / "paused"
    log = tmp_path / "worker.log"
    beat = start_beat(worker_env(**common), tmp_path / "beat.log", tmp_path)
    pausing = start_worker(
        "celery",
        worker_env(**common, E2E_PAUSE_MARKER=str(marker)),
        log,
        app="tests.e2e.deadline_pausing_worker",
    )
    takeover = None
    try:
        wait_for(marker.exists, 60, f"beat's sweep and the first outcome (log: {log})")
        paused_after = int(marker.read_text().split()[3].rstrip(":"))  # "paused after change N:"
        done, undone = (first, second) if paused_after == first.pk else (second, first)
        done.refresh_from_db(), undone.refresh_from_db()
        assert (done.status, undone.status) == (ChangeStatus.AUTO_APPROVED, ChangeStatus.PENDING)
        # The undone change is claimed (a lease): further sweeps do not hand it out again.
        assert PolicyMatch.objects.get(pk=undone.pk).claimed_until is not None
        kill_worker(pausing)

        takeover = start_worker(
            "celery",
            worker_env(**common, SGPORTAL_BROKER_VISIBILITY_TIMEOUT_S="2"),
            log,
        )

        def applied():
            undone.refresh_from_db()
            return undone.status == ChangeStatus.AUTO_APPROVED

        wait_for(applied, 60, f"the redelivered chunk (log: {log})", interval=0.25)
        # At least one more sweep with both workers' work done: nothing is due any more.
        time.sleep(SWEEP_S + 2)
    finally:
        kill_worker(pausing)
        if takeover is not None:
            kill_worker(takeover)
        with contextlib.suppress(Exception):
            kill_worker(beat)

    beat_log = (tmp_path / "beat.log").read_text()
    assert "approvals.policy.tasks.sweep_deadlines" in beat_log, beat_log[-3000:]
    for change in (first, second):
        decision = Decision.objects.get(change=change)
        assert (decision.verdict, decision.via) == ("approve", "policy")
        assert "no decision within 60 min" in decision.reason
        match = PolicyMatch.objects.get(pk=change.pk)
        assert (match.stage, match.due_at) == (DeadlineStage.DONE, None)
    assert AuditEntry.objects.filter(action=AuditAction.DECIDE).count() == 2
    theirs.refresh_from_db()
    assert theirs.status == ChangeStatus.PENDING
    their_match = PolicyMatch.objects.get(pk=theirs.pk)
    assert (their_match.stage, their_match.due_at) == (DeadlineStage.WAITING, their_due)
    assert not Decision.objects.filter(change=theirs).exists()
