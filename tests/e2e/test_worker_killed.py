"""A worker killed after the EC2 call but before recording the result: on redelivery the
rule is found already gone (describe confirms) and the result is recorded exactly once."""

from __future__ import annotations

import uuid

import boto3
import pytest
from django.conf import settings
from django.db import connection

from ingestion.models import ChangeStatus
from remediation import tasks
from remediation.models import AttemptStatus, RevertAttempt
from sgportal.models import AuditAction, AuditEntry
from tests.e2e.worker import (
    database_url,
    kill_worker,
    start_worker,
    wait_for,
    worker_env,
)
from tests.remediation.helpers import (
    authorized_ingress,
    deny,
    group_rules,
    make_group,
    member_ec2,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(120)]


def test_it_revokes_once_when_the_worker_dies_mid_revert(
    transactional_db, endpoint, account, approver, tmp_path
):
    ec2 = member_ec2(account)
    group = make_group(ec2)
    rule, change = authorized_ingress(ec2, group, account, 22)
    decision = deny(change, approver)
    queue = f"remediation-e2e-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "paused"
    env = {
        "database": database_url(connection.settings_dict),
        "broker": settings.CELERY_BROKER_URL,
        "endpoint": endpoint,
    }
    log = tmp_path / "worker.log"

    tasks.revert_change.apply_async(args=[change.pk, decision.pk], queue=queue)
    first = start_worker(
        queue,
        worker_env(**env, E2E_PAUSE_MARKER=str(marker)),
        log,
        app="tests.e2e.pausing_worker",
    )
    second = None
    try:
        wait_for(marker.exists, 30, f"the worker to pause after its EC2 call (log: {log})")
        assert rule["rule_id"] not in {r["rule_id"] for r in group_rules(ec2, group)}
        assert RevertAttempt.objects.get().status == AttemptStatus.RUNNING
        kill_worker(first)

        second = start_worker(
            queue,
            worker_env(
                **env,
                SGPORTAL_BROKER_VISIBILITY_TIMEOUT_S="2",
                SGPORTAL_REVERT_SLOT_TTL_S="10",
            ),
            log,
        )

        def finished():
            change.refresh_from_db()
            return change.status == ChangeStatus.REVERTED

        wait_for(finished, 45, f"the redelivered task to finish (log: {log})", interval=0.25)
    finally:
        kill_worker(first)
        if second is not None:
            kill_worker(second)

    attempt = RevertAttempt.objects.get()
    assert attempt.tries == 2
    assert attempt.status == AttemptStatus.DONE
    assert attempt.calls[0]["code"] in (
        "InvalidPermission.NotFound",
        "InvalidSecurityGroupRuleId.NotFound",
    )
    assert rule["rule_id"] in {r["rule_id"] for r in attempt.before}
    results = AuditEntry.objects.filter(action=AuditAction.REVERT_RESULT, object_id=str(change.pk))
    assert results.count() == 1
    assert results.get().after["outcome"] == "reverted"
    assert AuditEntry.objects.filter(action=AuditAction.REVERT_ATTEMPT).count() == 1
    assert rule["rule_id"] not in {r["rule_id"] for r in group_rules(ec2, group)}
    boto3.client("sts", region_name="us-east-1")  # the endpoint is still the moto server
