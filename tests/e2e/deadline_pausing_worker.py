"""The Celery app of an e2e worker that holds still once, right after applying the first
deadline outcome of a chunk, so a test can kill it with the rest of the chunk undone:
``celery -A tests.e2e.deadline_pausing_worker worker``.

Only this module wraps ``approvals.policy.deadlines.act`` (in each pool process), so no
production process can pause. ``E2E_PAUSE_MARKER`` names a file that must not exist yet:
the wrapper writes it (the test waits for it) and sleeps.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery.signals import worker_process_init

from sgportal.celery import app

__all__ = ["app"]
PAUSE_S = 120


@worker_process_init.connect(dispatch_uid="tests.e2e.deadline_pausing_worker")
def _wrap_act(**_kwargs) -> None:
    from approvals.policy import deadlines

    real = deadlines.act

    def act(change_id, now=None):
        outcome = real(change_id, now)
        marker = Path(os.environ.get("E2E_PAUSE_MARKER", ""))
        if marker.name and not marker.exists():
            marker.write_text(f"paused after change {change_id}: {outcome}\n")
            time.sleep(PAUSE_S)
        return outcome

    deadlines.act = act
