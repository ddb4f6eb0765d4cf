"""Signals that carry work forward between the apps without import cycles.

ingestion -> approvals -> remediation, never backwards: a later stage reports back through
these signals (sent after commit), so the earlier stage never imports the later one's code.

- ``changes_ingested(tenant_id, change_ids)``: ingestion stored new SecurityGroupChange rows
  (status pending or informational); approvals applies the policy and notifies.
- ``change_decided(change_id, decision_id, verdict, tenant_id)``: a decision committed;
  remediation reverts on deny.
- ``revert_finished(change_id, attempt_id, outcome, detail)``: remediation finished an attempt
  (``outcome`` is a status such as ``reverted`` or ``revert_failed``); approvals updates Slack.

All three are sent with ``announce`` once what they announce has committed.
"""

import logging

from django.dispatch import Signal

log = logging.getLogger(__name__)

changes_ingested = Signal()
change_decided = Signal()
revert_finished = Signal()

_NAMES = {
    changes_ingested: "changes_ingested",
    change_decided: "change_decided",
    revert_finished: "revert_finished",
}


def announce(signal: Signal, sender, **kwargs) -> None:
    """Send ``signal`` about work that has committed: every receiver runs even if another
    fails (the broker down, say), and a failure is logged, never raised to the sender,
    whose work is done; the beat sweeps redo what a receiver could not start."""
    for receiver, response in signal.send_robust(sender=sender, **kwargs):
        if isinstance(response, Exception):
            log.error(
                "%s receiver %r failed (%s): %s",
                _NAMES.get(signal, "signal"),
                receiver,
                ", ".join(f"{key}={value!r}" for key, value in kwargs.items()),
                response,
            )  # Django's send_robust has logged the traceback already
