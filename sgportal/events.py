"""Signals that carry work forward between the apps without import cycles.

ingestion -> approvals -> remediation, never backwards: a later stage reports back through
these signals (sent after commit), so the earlier stage never imports the later one's code.

- ``changes_ingested(tenant_id, change_ids)``: ingestion stored new SecurityGroupChange rows
  (status pending or informational); approvals applies the policy and notifies.
- ``change_decided(change_id, decision_id, verdict)``: a decision committed; remediation
  reverts on deny.
- ``revert_finished(change_id, attempt_id, outcome, detail)``: remediation finished an attempt
  (``outcome`` is a status such as ``reverted`` or ``revert_failed``); approvals updates Slack.
"""

from django.dispatch import Signal

changes_ingested = Signal()
change_decided = Signal()
revert_finished = Signal()
