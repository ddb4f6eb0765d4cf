"""CloudTrail Lake client: build the query safely, run it, wait, and stream result pages.

Only the network boundary lives here (boto3); what to do with the records is the
poller's job. Sleeping is injectable so tests never wait.

Retries happen inside botocore, not in a loop around its calls: ``LakeClient`` puts its
handler on the client's ``needs-retry`` hook (where botocore's own retry modes live). The
handler asks botocore's standard retry conditions (throttling, transient and modeled
retryable errors, connection errors) and adds Lake's own retryable codes, chiefly
``MaxConcurrentQueriesException``, a quota error that standard mode does not retry.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries import standard

from ingestion.models import EventName
from sgportal import validators
from sgportal.aws_roles import assume_tenant_role
from sgportal.models import Tenant

logger = logging.getLogger(__name__)

_LAKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")

EVENT_NAMES = tuple(EventName.values)  # what the Lake query asks for
DONE_STATUSES = {"FINISHED", "FAILED", "CANCELLED", "TIMED_OUT"}
# Retried beyond botocore's standard conditions (which already cover the throttling codes
# and HTTP 5xx): Lake's quota on running queries, and 4xx-coded service failures.
LAKE_RETRYABLE_CODES = {
    "MaxConcurrentQueriesException",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalFailure",
}
# botocore registers its retry handler on needs-retry.<service> under this id (legacy and
# standard modes alike); LakeClient replaces it so exactly one handler decides.
_RETRY_HANDLER_ID = "retry-config-cloudtrail"
_RETRY_EVENTS = standard.RetryEventAdapter()
PAGE_SIZE = 1000  # MaxQueryResults: 1-1000


class LakeError(Exception):
    """A Lake call failed in a way a retry on the next tick may fix."""


class InvalidLakeSetting(ValueError):
    """A tenant setting or argument that must never reach the SQL or the API."""


def event_data_store_id(value: str) -> str:
    """The bare event data store id from an ARN or id, validated for use in SQL."""
    try:
        return validators.event_data_store_id(value)
    except ValueError as exc:
        raise InvalidLakeSetting(str(exc)) from None


def lake_time(moment: datetime) -> str:
    """A timestamp as Lake compares eventTime: 'YYYY-MM-DD HH:MM:SS' in UTC."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidLakeSetting("Lake query bounds must be timezone-aware datetimes.")
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if not _LAKE_TIME.match(text):  # e.g. a year before 1000 or after 9999
        raise InvalidLakeSetting(f"{moment!r} cannot be used as a Lake timestamp.")
    return text


def build_query(event_data_store: str, start: datetime, end: datetime) -> str:
    """The security-group query over [start, end), every interpolated value validated."""
    store_id = event_data_store_id(event_data_store)
    since, until = lake_time(start), lake_time(end)
    if since >= until:
        raise InvalidLakeSetting(f"Empty window: {since} is not before {until}.")
    names = ", ".join(f"'{name}'" for name in EVENT_NAMES[:2])
    names2 = ", ".join(f"'{name}'" for name in EVENT_NAMES[2:4])
    names3 = ", ".join(f"'{name}'" for name in EVENT_NAMES[4:])
    return (
        "SELECT eventID, eventTime, eventName, recipientAccountId, awsRegion,\n"
        "       coalesce(errorCode, '') AS errorCode,\n"
        "       userIdentity.arn AS principalArn,\n"
        "       coalesce(element_at(requestParameters, 'groupId'), '') AS groupId,\n"
        "       eventJson\n"
        f"FROM {store_id}\n"
        "WHERE eventSource = 'ec2.amazonaws.com'\n"
        f"  AND eventName IN ({names},\n"
        f"                    {names2},\n"
        f"                    {names3})\n"
        f"  AND eventTime >= '{since}'\n"
        f"  AND eventTime < '{until}'\n"
        "ORDER BY eventTime ASC, eventID ASC"
    )


@dataclass
class QueryOutcome:
    """How a query ended: its status, error message and bytes scanned."""

    query_id: str
    status: str
    error: str = ""
    bytes_scanned: int = 0


@dataclass
class ResultPage:
    """One page of results: the eventJson cells, and the total row count AWS announced."""

    events: list[str]
    total_results: int | None = None
    bytes_scanned: int = 0


@dataclass
class LakeClient:
    """Runs one Lake query and streams its pages; botocore retries its calls with backoff."""

    client: object  # a botocore CloudTrail client
    owner_account_id: str = ""
    sleep: Callable[[float], None] = time.sleep
    max_wait_s: float = 600.0
    max_attempts: int = 6  # tries per call in all, the first included (as botocore counts)
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    page_size: int = PAGE_SIZE
    _owner: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.owner_account_id and not ACCOUNT_ID.match(self.owner_account_id):
            raise InvalidLakeSetting("The event data store owner must be a 12-digit account id.")
        self._owner = (
            {"EventDataStoreOwnerAccountId": self.owner_account_id} if self.owner_account_id else {}
        )
        self._install_retries()

    # -- retries, inside botocore ---------------------------------------------------------
    def _install_retries(self) -> None:
        """Make this object the client's one retry handler (see the module docstring)."""
        events = self.client.meta.events
        event = f"needs-retry.{self.client.meta.service_model.service_id.hyphenize()}"
        events.unregister(event, unique_id=_RETRY_HANDLER_ID)
        events.register(event, self._needs_retry, unique_id=_RETRY_HANDLER_ID)

    def _needs_retry(self, **kwargs) -> float | None:
        """botocore's needs-retry hook: None to stop, else how long botocore should wait.

        The wait happens here, through the injectable ``sleep``; botocore is told to retry
        at once (0), so the delay is neither doubled nor real in tests."""
        context = _RETRY_EVENTS.create_retry_context(**kwargs)
        retry = self._retryable(context)
        _RETRY_EVENTS.adapt_retry_response_from_context(context)  # e.g. MaxAttemptsReached
        if not retry:
            return None
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (context.attempt_number - 1))
        reason = context.get_error_code() or type(context.caught_exception).__name__
        logger.info(
            "Lake %s: %s, retry %d in %.1fs",
            context.operation_model.name,
            reason,
            context.attempt_number,
            delay,
        )
        self.sleep(delay)
        return 0

    def _retryable(self, context: standard.RetryContext) -> bool:
        if standard.StandardRetryConditions(max_attempts=self.max_attempts).is_retryable(context):
            return True
        return (
            context.attempt_number < self.max_attempts
            and context.get_error_code() in LAKE_RETRYABLE_CODES
        )

    def _call(self, operation: str, **params) -> dict:
        return getattr(self.client, operation)(**params, **self._owner)

    # -- the query lifecycle --------------------------------------------------------------
    def start(self, statement: str) -> str:
        return self._call("start_query", QueryStatement=statement)["QueryId"]

    def wait(self, query_id: str) -> QueryOutcome:
        """Poll describe_query with backoff until the query is done (or we stop waiting)."""
        waited, attempt = 0.0, 0
        while True:
            response = self._call("describe_query", QueryId=query_id)
            status = response.get("QueryStatus", "")
            if status in DONE_STATUSES:
                stats = response.get("QueryStatistics") or {}
                return QueryOutcome(
                    query_id=query_id,
                    status=status,
                    error=response.get("ErrorMessage", "") or "",
                    bytes_scanned=int(stats.get("BytesScanned") or 0),
                )
            if waited >= self.max_wait_s:
                self.cancel(query_id)
                return QueryOutcome(
                    query_id=query_id,
                    status="TIMED_OUT",
                    error=f"still {status or 'unknown'} after {waited:.0f}s; cancelled",
                )
            attempt += 1
            delay = min(self.max_delay_s, self.base_delay_s * 1.5 ** (attempt - 1))
            self.sleep(delay)
            waited += delay

    def cancel(self, query_id: str) -> None:
        try:
            self._call("cancel_query", QueryId=query_id)
        except ClientError as exc:  # already finished, or no permission: nothing to undo
            logger.warning("Lake cancel_query %s failed: %s", query_id, exc)

    def pages(self, query_id: str) -> Iterator[ResultPage]:
        """Result pages, one at a time (NextToken), so memory stays flat."""
        token: str | None = None
        while True:
            params = {"QueryId": query_id, "MaxQueryResults": self.page_size}
            if token:
                params["NextToken"] = token
            response = self._call("get_query_results", **params)
            stats = response.get("QueryStatistics") or {}
            yield ResultPage(
                events=[_event_json(row) for row in response.get("QueryResultRows") or []],
                total_results=stats.get("TotalResultsCount"),
                bytes_scanned=int(stats.get("BytesScanned") or 0),
            )
            token = response.get("NextToken")
            if not token:
                return


def _event_json(row: list[dict]) -> str:
    """The eventJson cell of a result row (a list of single-key dicts)."""
    for cell in row:
        if "eventJson" in cell:
            return cell["eventJson"]
    return ""  # kept as an unparseable record by the parser


def lake_client_for(
    tenant: Tenant,
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_wait_s: float = 600.0,
    session: boto3.session.Session | None = None,
) -> LakeClient:
    """A LakeClient for the tenant's store (``tenant.lake_source``), through its read role
    (with the tenant's ExternalId; a role found assumable without it is refused) if set."""
    source = tenant.lake_source
    session = session or boto3.session.Session()
    region = source.region or None
    if source.read_role_arn:
        session = assume_tenant_role(
            tenant, source.read_role_arn, purpose="lake", region=region, session=session
        )
    client = session.client(
        "cloudtrail",
        region_name=region,
        config=Config(connect_timeout=10),  # retries: LakeClient's handler (module docstring)
    )
    return LakeClient(
        client=client,
        owner_account_id=source.owner_account_id,
        sleep=sleep,
        max_wait_s=max_wait_s,
    )
