"""Celery tasks of approvals: thin wrappers that take ids and call the delivery actions."""

from __future__ import annotations

import random

from celery import shared_task
from slack_sdk.webhook import WebhookClient

from approvals.slack import delivery
from approvals.slack.links import response_url_allowed
from sgportal import publish
from sgportal.tasks import GiveUpTask

MAX_RETRIES = 8


def _backoff(retries: int, countdown: float | None) -> float:
    """Slack's Retry-After when given, else exponential backoff with jitter (cap 10 min)."""
    if countdown:
        return float(countdown) + random.uniform(0, 1)  # noqa: S311 (jitter)
    return min(600.0, 5.0 * 2**retries) * random.uniform(0.5, 1.0)  # noqa: S311


class SlackPostTask(GiveUpTask):
    """A post that ran out of retries is marked failed (the settings may still be fine). Any
    other failure leaves it pending: the notification sweep sends it again."""

    def give_up(self, exc, args, kwargs) -> None:
        if isinstance(exc, delivery.RetryLater):
            delivery.give_up(args[0] if args else kwargs["message_id"], str(exc))


@shared_task(bind=True, base=SlackPostTask, max_retries=MAX_RETRIES, acks_late=True)
def post_slack_message(self, message_id: int, slot_booked: bool = False) -> str:
    try:
        outcome = delivery.deliver(message_id, slot_booked=slot_booked)
    except delivery.RetryLater as exc:
        if self.out_of_retries():
            self.give_up(exc, (message_id,), {})
            return "failed"
        countdown = _backoff(self.request.retries, exc.countdown)
        delivery.postpone(message_id, countdown)
        raise self.retry(
            exc=exc, countdown=countdown, args=[message_id], kwargs={"slot_booked": False}
        ) from exc
    if outcome.state == "rescheduled":
        # The channel's next free slot is booked for us; come back then (not a retry).
        publish.enqueue(
            post_slack_message,
            kwargs={"message_id": message_id, "slot_booked": True},
            countdown=outcome.delay,
        )
    return outcome.state


@shared_task(bind=True, base=GiveUpTask, max_retries=MAX_RETRIES, acks_late=True)
def update_slack_message(self, change_id: int) -> str:
    """Re-render the Slack message of a change, if it has one (decision, revert outcome)."""
    try:
        return delivery.refresh(change_id).state
    except delivery.RetryLater as exc:
        if self.out_of_retries():
            self.give_up(exc, (change_id,), {})  # the next refresh renders the current state
            return "failed"
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries, exc.countdown)) from exc


@shared_task(acks_late=True, autoretry_for=(OSError,), max_retries=3, retry_backoff=True)
def send_ephemeral(response_url: str, text: str) -> str:
    """Tell one Slack user something privately through the click's response_url."""
    if not response_url_allowed(response_url):
        return "refused"
    WebhookClient(response_url, timeout=5).send(
        text=text, response_type="ephemeral", replace_original=False
    )
    return "sent"


@shared_task
def resume_notifications() -> dict[str, int]:
    """Beat: send the notifications that never went out (see approvals.sweeps)."""
    from django.conf import settings

    from approvals import sweeps

    return sweeps.resume_notifications(settings.NOTIFY_STALE_AFTER_S)


@shared_task(acks_late=True)
def apply_policy(tenant_id: int, change_ids: list[int]) -> dict[str, int]:
    """The policy step for one stored page of changes (idempotent: only ``pending`` changes
    without a decision or Slack message are touched, so a redelivery does nothing twice)."""
    from approvals import policy

    return policy.apply_policy(tenant_id, change_ids)
