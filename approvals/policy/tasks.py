"""Celery tasks of the policy package: thin wrappers taking ids (imported by AppConfig.ready)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def sweep_deadlines() -> dict:
    """Beat: claim the changes past their deadline and hand them to ``apply_deadlines``."""
    from approvals.policy import deadlines

    return deadlines.sweep()


@shared_task(acks_late=True)
def apply_deadlines(change_ids: list[int]) -> dict[str, int]:
    """Apply the due deadline step of each claimed change (idempotent per step)."""
    from approvals.policy import deadlines

    return deadlines.act_on([int(pk) for pk in change_ids])


@shared_task(acks_late=True, autoretry_for=(OSError,), max_retries=3, retry_backoff=True)
def post_deadline_message(change_id: int, kind: str) -> str:
    from approvals.policy import deadlines

    return deadlines.post_deadline_message(change_id, kind)


@shared_task(acks_late=True)
def post_digest(digest_id: int) -> str:
    """Post one grouped notification once its window has ended."""
    from approvals.policy import digest

    return digest.post_digest(digest_id)
