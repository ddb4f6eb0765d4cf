"""Who may decide a change: its rule's reviewer group (and, once escalated, the escalation
group). ``approvals.actions.decide`` calls ``check_reviewer`` for every human door (Slack,
web, API), so all of them enforce the same rule; policy decisions pass.

One indexed lookup by the change's primary key, plus one for the membership only when the
change has a group: the Slack click stays within its budget.
"""

from __future__ import annotations

from typing import Any

from approvals.actions import DecisionError, refuse_decision
from approvals.policy.models import DeadlineStage, PolicyMatch, ReviewerGroup


class NotInReviewerGroup(DecisionError):
    """The person (or API token) is not in the reviewer group of the change's rule."""


def allowed_groups(change_id: int) -> list[int]:
    """The groups whose members may decide the change (empty: any approver)."""
    row = (
        PolicyMatch.objects.filter(pk=change_id)
        .values_list("reviewer_group_id", "escalation_group_id", "stage")
        .first()
    )
    if row is None or row[0] is None:
        return []
    groups = [row[0]]
    if row[1] is not None and row[2] == DeadlineStage.ESCALATED:
        groups.append(row[1])
    return groups


def may_decide(change_id: int, actor: Any) -> bool:
    groups = allowed_groups(change_id)
    if not groups or getattr(actor, "is_superuser", False):
        return True
    token = getattr(actor, "token", None)
    if token is not None:  # an API client: the token must be in the group
        return ReviewerGroup.api_tokens.through.objects.filter(
            reviewergroup_id__in=groups, apitoken_id=token.pk
        ).exists()
    if getattr(actor, "pk", None) is None:
        return False
    return ReviewerGroup.members.through.objects.filter(
        reviewergroup_id__in=groups, user_id=actor.pk
    ).exists()


def check_reviewer(change: Any, actor: Any, via: str) -> None:
    """Raise NotInReviewerGroup (audited) unless ``actor`` may decide ``change``."""
    if may_decide(change.pk, actor):
        return
    refuse_decision(change, actor=actor, via=via, why="not in the rule's reviewer group")
    raise NotInReviewerGroup("only the reviewer group of this change's policy rule may decide it")
