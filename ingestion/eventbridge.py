"""EventBridge API destination: check the secret, read the body, store the events.

The view (ingestion.views) only maps these outcomes to HTTP. A request is either taken whole
(one transaction, through the shared parser and the one upsert) or refused whole with
nothing stored; every refusal is counted by reason (``/metrics``). Policy and Slack work go
to a worker through ``changes_ingested``, as for every source.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

import orjson
from django.core.cache import cache
from django.db import transaction

from ingestion.lake import EVENT_NAMES
from ingestion.models import EventBridgeSource, Source, hash_secret
from ingestion.parser import parse_record
from ingestion.sources import record_delivery
from ingestion.store import StoreResult, own_role_arns, store_changes

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # 1 MiB; EventBridge sends at most 256 KB per event
DETAIL_TYPE = "AWS API Call via CloudTrail"
REASONS = ("unauthorized", "too_large", "bad_json", "bad_shape", "wrong_event")
_NO_SECRET = hash_secret("no tenant has this secret")
_SG_EVENTS = frozenset(EVENT_NAMES)


class Rejected(Exception):
    """The request is refused whole; ``status`` and ``reason`` say how and why."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.status, self.reason, self.detail = status, reason, detail or reason


def count_rejection(reason: str) -> None:
    """Count a refused request in the shared cache (read by /metrics); never fails."""
    key = f"ingest:eventbridge:rejected:{reason}"
    try:
        if not cache.add(key, 1, timeout=None):
            cache.incr(key)
    except Exception:  # noqa: BLE001 - a counter must never turn a refusal into a 500
        logger.warning("could not count an EventBridge refusal (%s)", reason, exc_info=True)


def rejection_counts() -> dict[str, int]:
    """Refused requests per reason since the cache was last cleared."""
    keys = {f"ingest:eventbridge:rejected:{r}": r for r in REASONS}
    try:
        found = cache.get_many(list(keys))
    except Exception:  # noqa: BLE001
        found = {}
    return {reason: int(found.get(key, 0)) for key, reason in keys.items()}


def authenticate(slug: str, secret: str) -> EventBridgeSource:
    """The enabled source of tenant ``slug`` whose secret is ``secret``; Rejected(401) for
    a wrong secret, an unknown or inactive tenant and a disabled source alike (the same
    work is done either way: no tenant enumeration by answer or timing)."""
    source = (
        EventBridgeSource.objects.select_related("tenant")
        .filter(tenant__slug=slug, tenant__active=True, enabled=True)
        .exclude(secret_hash="")
        .first()
    )
    stored = source.secret_hash if source else _NO_SECRET
    matches = hmac.compare_digest(hash_secret(secret or ""), stored)
    if source is None or not secret or not matches:
        raise Rejected(401, "unauthorized")
    return source


def events_of(body: bytes) -> list[dict]:
    """The events of a body (one event or a JSON array), each checked to be an EventBridge
    "AWS API Call via CloudTrail" event from aws.ec2; Rejected(400) with the reason if not."""
    if len(body) > MAX_BODY:
        raise Rejected(413, "too_large", f"body over {MAX_BODY} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, "bad_json", f"not JSON: {exc}") from None
    events = data if isinstance(data, list) else [data]
    if not events:
        raise Rejected(400, "bad_shape", "an empty array")
    for index, event in enumerate(events):
        where = f"event {index}: " if isinstance(data, list) else ""
        if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
            raise Rejected(400, "bad_shape", f"{where}not an EventBridge event with a detail")
        if event.get("detail-type") != DETAIL_TYPE:
            raise Rejected(400, "wrong_event", f"{where}detail-type is not {DETAIL_TYPE!r}")
        if event.get("source") != "aws.ec2":
            raise Rejected(400, "wrong_event", f"{where}source is not 'aws.ec2'")
        if not isinstance(event["detail"].get("eventName", ""), str):
            raise Rejected(400, "bad_shape", f"{where}detail.eventName is not a string")
    return events


@dataclass
class Received:
    """What one accepted request did."""

    events: int
    skipped: int
    result: StoreResult


def receive(source: EventBridgeSource, events: list[dict]) -> Received:
    """Parse and store the events (security-group calls only; others are skipped)."""
    wanted = [e for e in events if e["detail"].get("eventName") in _SG_EVENTS]
    roles = own_role_arns(source.tenant_id)
    parsed = [parse_record(event, own_role_arns=roles) for event in wanted]
    with transaction.atomic():
        result = store_changes(source.tenant_id, parsed, source=Source.EVENTBRIDGE)
        record_delivery(EventBridgeSource, source.tenant_id, events=len(wanted), new=result.new)
    return Received(events=len(wanted), skipped=len(events) - len(wanted), result=result)
