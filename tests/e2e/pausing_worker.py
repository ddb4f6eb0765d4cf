"""The Celery app of an e2e worker that holds still once after its first EC2 write, so a
test can kill it mid-revert: ``celery -A tests.e2e.pausing_worker worker``.

The pause is a ``remediation.aws.client_hooks`` entry (botocore's after-call event), the
seam the unit tests use for faults; only this module registers it, so no production
process can pause. ``E2E_PAUSE_MARKER`` names a file that must not exist yet: the hook
writes it (the test waits for it) and sleeps.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery.signals import worker_process_init

from sgportal.celery import app

__all__ = ["app"]
PAUSE_S = 120
WRITES = ("Revoke", "Authorize", "Modify")


def _pause_once(http_response, model, **_kwargs) -> None:
    marker = Path(os.environ.get("E2E_PAUSE_MARKER", ""))
    if not marker.name or marker.exists():
        return
    if not model.name.startswith(WRITES) or http_response.status_code >= 300:
        return
    marker.write_text(f"paused after {model.name}\n")
    time.sleep(PAUSE_S)


def _hook(client) -> None:
    client.meta.events.register("after-call.ec2", _pause_once)


@worker_process_init.connect(dispatch_uid="tests.e2e.pausing_worker")
def _register(**_kwargs) -> None:
    from remediation import aws

    aws.client_hooks.append(_hook)
