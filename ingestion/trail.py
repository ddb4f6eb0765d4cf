"""The organization trail reader: SQS notices of new log files in S3 -> changes.

A tenant's trail bucket notifies an SQS queue; the reader long-polls it (with the tenant's
read role, assumed with its ExternalId) and accepts the three shapes people configure:

- an S3 event notification (``{"Records": [{"eventSource": "aws:s3", ...}]}``), sent to the
  queue directly or wrapped in an SNS notification;
- CloudTrail's own SNS log-delivery notice (``{"s3Bucket": ..., "s3ObjectKey": [...]}``),
  wrapped in SNS or delivered raw;
- an EventBridge "Object Created" event from ``aws.s3``.

Each named log file is streamed from S3 and gunzipped chunk by chunk; the security-group
records are found *before* anything is parsed (a log file is mostly other events), then go
through the shared parser and the one upsert (``ingestion.store``) as source ``trail``. A
notice is deleted from the queue only after its files are stored (committed). A file that
fails leaves its notice on the queue (hidden for the retry delay); once the notice has been
received ``SGPORTAL_TRAIL_MAX_RECEIVES`` times it is parked as a ``TrailDeadLetter`` (admin,
``/metrics``) and only then deleted. Test events, digest files and objects that are not
CloudTrail logs are skipped and counted by reason on the ``TrailSource``.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote_plus

import boto3
import orjson
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ingestion.models import EventName, Source, TrailDeadLetter, TrailSource
from ingestion.parser import ParsedChange, parse_record, parse_text
from ingestion.readahead import read_ahead
from ingestion.sources import record_delivery, record_source_error
from ingestion.store import StoreResult, own_role_arns, store_changes
from sgportal.aws_roles import UnsafeRole, assume_tenant_role
from sgportal.models import Tenant

logger = logging.getLogger(__name__)

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10)

# Why an object named in a notice is not read (TrailSource counter per reason).
TEST_EVENT, DIGEST, NOT_CLOUDTRAIL = "test_event", "digest", "not_cloudtrail"
SKIP_REASONS = {
    TEST_EVENT: "skipped_test_events",
    DIGEST: "skipped_digests",
    NOT_CLOUDTRAIL: "skipped_not_cloudtrail",
}

# <prefix/>AWSLogs/<o-org/><account>/CloudTrail/<region>/YYYY/MM/DD/
#   <account>_CloudTrail_<region>_<YYYYMMDD>T<HHMM>Z_<unique>.json.gz
LOG_KEY = re.compile(
    r"(?:^|/)AWSLogs/(?:o-[a-z0-9]{10,32}/)?\d{12}/CloudTrail/[a-z0-9-]+/\d{4}/\d{2}/\d{2}/"
    r"\d{12}_CloudTrail_[a-z0-9-]+_(?P<stamp>\d{8}T\d{4}Z)_[^/]+\.json\.gz$"
)

READ_CHUNK = 256 * 1024  # compressed bytes per S3 read
OUT_CHUNK = 4 * 1024 * 1024  # at most this many decompressed bytes at once
MAX_DECOMPRESSED = 2 * 1024**3  # a log file is far smaller; more is a gzip bomb
MAX_WHOLE_FILE = 512 * 1024**2  # the fallback path holds the file: refuse beyond this
MAX_RECORD = 64 * 1024**2  # a CloudTrail record is at most a few hundred KB

# A CloudTrail log file as AWS writes it: {"Records":[{"eventVersion":...},{...}]}, compact,
# every record starting with eventVersion. The fast path relies on that shape (and checks
# it); any other shape is read by the whole-file fallback.
_HEADER = re.compile(rb'\s*\{\s*"Records"\s*:\s*\[\s*')
_START = b'{"eventVersion":'
_NEXT = b',{"eventVersion":'
_SG_NAMES = frozenset(EventName.values)
_NAME = b'"eventName"'  # followed by :" when it is a record's own key, compact
_NAME_WIDTH = len(_NAME)
_SG_BYTES = frozenset(name.encode() for name in _SG_NAMES)


class TrailFileError(Exception):
    """A log file that could not be read (corrupt or truncated gzip, not JSON, not a log)."""


class _NotFastShape(Exception):
    """Internal: the file is not in the shape the fast path needs; use the fallback."""


class UnknownNotice(Exception):
    """An SQS message that is none of the notice shapes the reader accepts."""


# --- notices ------------------------------------------------------------------------------
@dataclass
class Notice:
    """What one SQS message asks for: objects to read, and objects skipped (by reason)."""

    objects: list[tuple[str, str]] = field(default_factory=list)  # (bucket, key) to read
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


def classify_key(key: str) -> str | None:
    """None for a CloudTrail log file; else the reason it is skipped."""
    if "CloudTrail-Digest" in key:
        return DIGEST
    return None if LOG_KEY.search(key) else NOT_CLOUDTRAIL


def notice_of(body: str, *, bucket: str = "") -> Notice:
    """The objects one SQS message names (and what it skips). ``bucket``: the trail's bucket
    when set; objects elsewhere are skipped. Raises UnknownNotice for anything else."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UnknownNotice("the message is not JSON") from None
    if isinstance(message, dict) and message.get("Type") in {
        "SubscriptionConfirmation",
        "UnsubscribeConfirmation",
    }:
        return Notice(skipped={TEST_EVENT: 1})
    if isinstance(message, dict) and message.get("Type") == "Notification":  # SNS envelope
        inner = message.get("Message")
        try:
            message = orjson.loads(inner) if isinstance(inner, str) else None
        except orjson.JSONDecodeError:
            message = None
        if message is None:
            raise UnknownNotice("an SNS notification whose Message is not JSON")
    if not isinstance(message, dict):
        raise UnknownNotice("the message is not a JSON object")
    found: list[tuple[str, str]] = []
    notice = Notice()
    if message.get("Event") == "s3:TestEvent":
        notice.skip(TEST_EVENT)
        return notice
    if "s3ObjectKey" in message or "s3Bucket" in message:  # CloudTrail's SNS notice
        keys = message.get("s3ObjectKey")
        keys = [keys] if isinstance(keys, str) else keys
        if not isinstance(message.get("s3Bucket"), str) or not isinstance(keys, list):
            raise UnknownNotice("a CloudTrail notice without s3Bucket and s3ObjectKey")
        found = [(message["s3Bucket"], str(key)) for key in keys]
    elif message.get("detail-type") == "Object Created" and message.get("source") == "aws.s3":
        detail = message.get("detail") or {}
        try:
            found = [(detail["bucket"]["name"], detail["object"]["key"])]
        except (KeyError, TypeError):
            raise UnknownNotice("an Object Created event without bucket and key") from None
    elif isinstance(message.get("Records"), list):  # S3 event notification
        for record in message["Records"]:
            if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
                raise UnknownNotice("an S3 notification record not from aws:s3")
            if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
                notice.skip(NOT_CLOUDTRAIL)  # e.g. ObjectRemoved: nothing to read
                continue
            try:
                s3 = record["s3"]
                found.append((s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
            except (KeyError, TypeError):
                raise UnknownNotice("an S3 notification record without bucket and key") from None
    else:
        raise UnknownNotice("not an S3, CloudTrail or EventBridge object notice")
    for obj_bucket, key in found:
        reason = classify_key(key)
        if reason is None and bucket and obj_bucket != bucket:
            logger.warning("trail notice names s3://%s/%s, not the trail's bucket", obj_bucket, key)
            reason = NOT_CLOUDTRAIL
        if reason:
            notice.skip(reason)
        else:
            notice.objects.append((obj_bucket, key))
    return notice


# --- reading one log file -----------------------------------------------------------------
def gunzipped(read: Callable[[int], bytes]) -> Iterator[bytes]:
    """Decompressed chunks of a gzip stream (several members allowed), at most OUT_CHUNK
    bytes at once; TrailFileError for a corrupt, truncated or oversized stream."""
    inflater = zlib.decompressobj(wbits=31)
    fed, total = False, 0
    while True:
        data = read(READ_CHUNK)
        if not data:
            break
        while data:
            if inflater.eof:  # the next gzip member
                inflater, fed = zlib.decompressobj(wbits=31), False
            fed = True
            try:
                out = inflater.decompress(data, OUT_CHUNK)
            except zlib.error as exc:
                raise TrailFileError(f"not a valid gzip file: {exc}") from None
            total += len(out)
            if total > MAX_DECOMPRESSED:
                raise TrailFileError(f"over {MAX_DECOMPRESSED} bytes decompressed")
            if out:
                yield out
            data = inflater.unconsumed_tail or (inflater.unused_data if inflater.eof else b"")
    if fed and not inflater.eof:
        if rest := inflater.flush():
            yield rest
        raise TrailFileError("truncated gzip file (the stream ends mid-member)")
    if not fed:
        raise TrailFileError("empty file")


@dataclass
class Scan:
    """What a log file holds: how many records, and the security-group ones (JSON text or
    already-decoded records from the fallback path)."""

    records: int = 0
    matches: list[bytes | dict] = field(default_factory=list)


def scan_fast(chunks: Iterable[bytes]) -> Scan:
    """Find the security-group records without parsing the rest: search the decompressed
    text for their event names and cut out only those records (by the record-start marker
    every AWS-written record begins with). Raises _NotFastShape when the file is not in that
    shape (the caller then reads it whole) and TrailFileError when it is not complete."""
    scan = Scan()
    buf = b""
    header_seen = False
    for chunk in chunks:
        buf = buf + chunk if buf else chunk
        if not header_seen:
            if len(buf) < 4096:
                continue  # too little to tell yet
            buf, header_seen = _after_header(buf), True
        cut = buf.rfind(_NEXT)
        if cut < 0:
            if len(buf) > MAX_RECORD:
                raise _NotFastShape(f"no record separator in the last {MAX_RECORD} bytes")
            continue  # one record so far (or a part of one)
        _take(buf, 0, cut, scan)
        buf = buf[cut + 1 :]
    if not header_seen:
        if not buf.strip():
            raise TrailFileError("empty log file")
        buf = _after_header(buf)
    tail = buf.rstrip()
    if not tail.endswith(b"}"):
        raise TrailFileError("truncated log file (it does not end with ]})")
    tail = tail[:-1].rstrip()
    if not tail.endswith(b"]"):
        raise TrailFileError("truncated log file (it does not end with ]})")
    tail = tail[:-1].rstrip()
    if tail:
        _take(tail, 0, len(tail), scan)
    return scan


def _after_header(buf: bytes) -> bytes:
    """The text after '{"Records":[', which must start with a record or the closing ']'."""
    header = _HEADER.match(buf)
    if header is None:
        raise _NotFastShape("no Records header")
    rest = buf[header.end() :]
    # Compact, as AWS writes it ({"eventVersion":"1.11",...): a writer that puts spaces
    # after colons would hide the compact eventName keys the scan looks for.
    if not (rest.startswith(_START + b'"') or rest.startswith(b"]")):
        raise _NotFastShape("records do not start with a compact eventVersion")
    return rest


def _take(buf: bytes, start: int, end: int, scan: Scan) -> None:
    """Count the records in buf[start:end] (whole records) and keep the security-group ones.

    One pass over the ``"eventName"`` strings reads each record's event name from its
    compact key (``"eventName":"…"``, one per record, as AWS writes them) without parsing
    anything; only a security-group record is cut out (between its record-start markers)
    and decoded, to check the cut. The string as a value (an event selector's
    ``"field":"eventName"``) is passed over; as a key written any other way (``"eventName":
    "…"``) it sends the file to the whole read, which never reads past a record unseen.
    """
    names, find, starts = 0, buf.find, buf.startswith
    at = find(_NAME, start, end)
    while at >= 0:
        after = at + _NAME_WIDTH
        if not starts(b':"', after):
            rest = buf[after : after + 64].lstrip()
            if rest[:1] == b":" or not rest:
                raise _NotFastShape("an eventName key not in AWS's compact shape")
            at = find(_NAME, after, end)  # a value, not a key
            continue
        names += 1
        name_start = after + 2
        name_end = find(b'"', name_start, name_start + 64)
        if name_end < 0:
            raise _NotFastShape("an eventName that does not end")
        if buf[name_start:name_end] in _SG_BYTES:
            _cut(buf, start, end, at, buf[name_start:name_end].decode(), scan)
        at = find(_NAME, name_end, end)
    scan.records += names


def _cut(buf: bytes, start: int, end: int, at: int, name: str, scan: Scan) -> None:
    """Cut out the record around position ``at``, check it, keep it if it is from EC2."""
    first = buf.rfind(_START, start, at)
    last = buf.find(_NEXT, at, end)
    piece = buf[first : end if last < 0 else last]
    try:
        record = orjson.loads(piece)
    except orjson.JSONDecodeError:
        raise _NotFastShape("a record cut out by the markers is not one JSON object") from None
    if not isinstance(record, dict) or record.get("eventName") != name:
        raise _NotFastShape("the markers cut out another record")
    if record.get("eventSource") == "ec2.amazonaws.com":
        scan.matches.append(piece)


def scan_whole(chunks: Iterable[bytes]) -> Scan:
    """The fallback for files not written the way AWS writes them: the whole file, decoded
    (up to MAX_WHOLE_FILE bytes), keeping the security-group records."""
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_WHOLE_FILE:
            raise TrailFileError(f"over {MAX_WHOLE_FILE} bytes in a shape that needs a whole read")
        parts.append(chunk)
    try:
        data = orjson.loads(b"".join(parts))
    except orjson.JSONDecodeError as exc:
        raise TrailFileError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Records"), list):
        raise TrailFileError("not a CloudTrail log file (no Records list)")
    scan = Scan(records=len(data["Records"]))
    for record in data["Records"]:
        if (
            isinstance(record, dict)
            and record.get("eventName") in _SG_NAMES
            and record.get("eventSource") == "ec2.amazonaws.com"
        ):
            scan.matches.append(record)
    return scan


def scan_object(s3, bucket: str, key: str) -> Scan:
    """Stream one gzipped log file from S3 and find its security-group records."""

    def chunks() -> Iterator[bytes]:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        # The next chunk is read and decompressed in a worker thread (both release the GIL)
        # while this one is scanned: the scan runs at about the slower one's speed.
        ahead = read_ahead(gunzipped(body.read), _nothing)
        try:
            for chunk, _ in ahead:
                yield chunk
        finally:
            ahead.close()  # waits for the worker thread before the body is closed
            body.close()

    try:
        return scan_fast(chunks())
    except _NotFastShape as exc:
        logger.info("s3://%s/%s read whole (%s)", bucket, key, exc)
        return scan_whole(chunks())


def _nothing(_chunk: bytes) -> None:
    return None


def parse_matches(scan: Scan, roles: Iterable[str]) -> list[ParsedChange]:
    """The security-group records through the shared parser."""
    roles = tuple(roles)
    return [
        parse_text(m.decode(), own_role_arns=roles)  # valid UTF-8: orjson read it
        if isinstance(m, bytes)
        else parse_record(m, own_role_arns=roles)
        for m in scan.matches
    ]


# --- one tenant's reader ------------------------------------------------------------------
@dataclass
class Totals:
    """What a read (or a backfill) did."""

    messages: int = 0
    files_read: int = 0
    files_failed: int = 0
    records: int = 0
    events: int = 0
    new: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # "s3://bucket/key: error"


@dataclass
class TrailReader:
    """Reads one tenant's trail: its queue (``run``) or a time range of its bucket."""

    tenant: Tenant
    source: TrailSource
    s3: object
    sqs: object | None = None
    max_receives: int = 0
    retry_delay_s: int = 0
    wait_s: int = 0
    visibility_s: int = 0
    clock: Callable[[], float] = time.monotonic
    _roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.max_receives = self.max_receives or settings.SGPORTAL_TRAIL_MAX_RECEIVES
        self.retry_delay_s = self.retry_delay_s or settings.SGPORTAL_TRAIL_RETRY_DELAY_S
        self.wait_s = self.wait_s if self.wait_s else settings.SGPORTAL_TRAIL_WAIT_S
        self.visibility_s = self.visibility_s or settings.SGPORTAL_TRAIL_VISIBILITY_S
        self._roles = tuple(own_role_arns(self.tenant))

    # -- one file --------------------------------------------------------------------------
    def load_file(self, bucket: str, key: str, totals: Totals) -> StoreResult:
        """Read one log file and store its security-group changes (one transaction, with the
        source's health). Raises TrailFileError/ClientError/BotoCoreError when it fails."""
        scan = scan_object(self.s3, bucket, key)
        parsed = parse_matches(scan, self._roles)
        with transaction.atomic():
            result = store_changes(self.tenant.pk, parsed, source=Source.TRAIL)
            record_delivery(
                TrailSource,
                self.tenant.pk,
                events=len(parsed),
                new=result.new,
                files_read=1,
                records_scanned=scan.records,
            )
            TrailSource.objects.filter(tenant_id=self.tenant.pk).update(last_file_at=timezone.now())
        totals.files_read += 1
        totals.records += scan.records
        totals.events += len(parsed)
        totals.new += result.new
        totals.duplicates += result.duplicates
        return result

    def try_file(self, bucket: str, key: str, totals: Totals) -> str:
        """load_file; "" when stored, else the error (recorded on the source)."""
        try:
            self.load_file(bucket, key, totals)
        except (TrailFileError, ClientError, BotoCoreError) as exc:
            error = f"s3://{bucket}/{key}: {describe(exc)}"
            logger.warning("trail file of %s failed: %s", self.tenant.slug, error)
            record_source_error(TrailSource, self.tenant.pk, error)
            totals.files_failed += 1
            totals.failures.append(error)
            return error
        return ""

    # -- the queue -------------------------------------------------------------------------
    def run(self, *, budget_s: float | None = None, once: bool = True) -> Totals:
        """Receive and handle notices until the queue is empty (``once``) or the time budget
        is spent. Errors reaching SQS itself propagate (the caller records them)."""
        totals = Totals()
        deadline = None if budget_s is None else self.clock() + budget_s
        while deadline is None or self.clock() < deadline:
            response = self.sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=self.wait_s,
                VisibilityTimeout=self.visibility_s,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            messages = response.get("Messages") or []
            if not messages and once:
                break
            for message in messages:
                self.handle(message, totals)
        return totals

    def handle(self, message: dict, totals: Totals) -> None:
        """Read the files one notice names; delete it once they are stored, or park it."""
        totals.messages += 1
        body = message.get("Body", "")
        receives = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
        try:
            notice = notice_of(body, bucket=self.source.bucket)
        except UnknownNotice as exc:  # retrying cannot help: park it at once
            self.park(message, receives, f"unknown notice: {exc}", "", "", totals)
            return
        errors = [
            (bucket, key, error)
            for bucket, key in notice.objects
            if (error := self.try_file(bucket, key, totals))
        ]
        if not errors:
            self.count_skips(notice.skipped, totals)
            self.delete(message)
            return
        if receives >= self.max_receives:
            bucket, key, _ = errors[0]
            text = "\n".join(error for _b, _k, error in errors)
            self.park(message, receives, text, bucket, key, totals)
            self.count_skips(notice.skipped, totals)
            return
        # Leave it on the queue: it comes back after the retry delay.
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.source.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=min(43200, self.retry_delay_s * 2 ** (receives - 1)),
            )
        except (ClientError, BotoCoreError) as exc:  # it returns after the visibility anyway
            logger.warning("could not delay a trail notice of %s: %s", self.tenant.slug, exc)

    def park(
        self, message: dict, receives: int, error: str, bucket: str, key: str, totals: Totals
    ) -> None:
        """Keep the notice as a dead letter (committed), then delete it from the queue."""
        TrailDeadLetter.objects.update_or_create(
            tenant=self.tenant,
            message_id=message.get("MessageId", "")[:100],
            defaults={
                "bucket": bucket[:63],
                "key": key[:1024],
                "receive_count": receives,
                "error": error[:10000],
                "body": message.get("Body", "")[:100000],
                "parked_at": timezone.now(),
            },
        )
        record_source_error(TrailSource, self.tenant.pk, f"dead letter: {error}")
        logger.error("trail notice of %s parked as a dead letter: %s", self.tenant.slug, error)
        totals.dead_letters += 1
        self.delete(message)

    def delete(self, message: dict) -> None:
        """Delete a handled notice (it was stored or parked; a failed delete only means it is
        read again, which stores nothing twice)."""
        self.sqs.delete_message(
            QueueUrl=self.source.queue_url, ReceiptHandle=message["ReceiptHandle"]
        )

    def count_skips(self, skipped: dict[str, int], totals: Totals) -> None:
        if not skipped:
            return
        for reason, n in skipped.items():
            totals.skipped[reason] = totals.skipped.get(reason, 0) + n
        values = {SKIP_REASONS[r]: F(SKIP_REASONS[r]) + n for r, n in skipped.items()}
        TrailSource.objects.filter(tenant_id=self.tenant.pk).update(
            files_skipped=F("files_skipped") + sum(skipped.values()), **values
        )

    # -- backfill --------------------------------------------------------------------------
    def log_keys(self, since: datetime, until: datetime) -> Iterator[str]:
        """Keys of the log files delivered in [since, until] (by the time in their name),
        under <prefix>/AWSLogs/<org or account>/[<account>/]CloudTrail/<region>/Y/M/D/."""
        bucket = self.source.bucket
        root = self.source.prefix.strip("/")
        root = f"{root}/AWSLogs/" if root else "AWSLogs/"
        days = _days(since, until)
        for owner in self._children(bucket, root):
            name = owner[len(root) :].rstrip("/")
            accounts = self._children(bucket, owner) if name.startswith("o-") else [owner]
            for account in accounts:
                for region in self._children(bucket, f"{account}CloudTrail/"):
                    for day in days:
                        prefix = f"{region}{day:%Y/%m/%d}/"
                        for key in self._keys(bucket, prefix):
                            match = LOG_KEY.search(key)
                            if not match or "CloudTrail-Digest" in key:
                                continue
                            stamp = datetime.strptime(match["stamp"] + "+0000", "%Y%m%dT%H%MZ%z")
                            if since <= stamp <= until:
                                yield key

    def _children(self, bucket: str, prefix: str) -> list[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            found += [p["Prefix"] for p in page.get("CommonPrefixes") or []]
        return found

    def _keys(self, bucket: str, prefix: str) -> Iterator[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents") or []:
                yield obj["Key"]

    def backfill(
        self,
        keys: Iterable[str],
        *,
        progress: Callable[[str, str], None] | None = None,
    ) -> Totals:
        """Load these log files of the trail's bucket (each in its own transaction)."""
        totals = Totals()
        for key in keys:
            error = self.try_file(self.source.bucket, key, totals)
            if progress:
                progress(key, error)
        return totals


def describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '')}: {error.get('Message', '')}".strip(": ")
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, TrailFileError) else str(exc)


def _days(since: datetime, until: datetime) -> list[date]:
    days, day = [], since.astimezone(UTC).date()
    while day <= until.astimezone(UTC).date():
        days.append(day)
        day += timedelta(days=1)
    return days


def reader_for(
    tenant: Tenant, *, session: boto3.session.Session | None = None, **options
) -> TrailReader:
    """A TrailReader for the tenant's trail, through its read role (assumed with the tenant's
    ExternalId; a role found assumable without it is refused) when one is set."""
    source = TrailSource.objects.get(tenant=tenant)
    session = session or boto3.session.Session()
    region = source.region or None
    if source.read_role_arn:
        session = assume_tenant_role(
            tenant, source.read_role_arn, purpose="trail", region=region, session=session
        )
    return TrailReader(
        tenant=tenant,
        source=source,
        s3=session.client("s3", region_name=region, config=_CONFIG),
        sqs=session.client("sqs", region_name=region, config=_CONFIG),
        **options,
    )


# Errors that end a read as failed (recorded on the source); the next tick tries again.
EXPECTED_ERRORS = (ClientError, BotoCoreError, UnsafeRole)
SKIPPED, GONE = "skipped", "gone"


def read_tenant(
    tenant: Tenant,
    *,
    once: bool = True,
    budget_s: float | None = None,
    session: boto3.session.Session | None = None,
    **options,
) -> Totals:
    """Read the tenant's queue; an error reaching AWS is recorded on the source and raised."""
    try:
        reader = reader_for(tenant, session=session, **options)
        return reader.run(once=once, budget_s=budget_s)
    except EXPECTED_ERRORS as exc:
        record_source_error(TrailSource, tenant.pk, f"reading the queue: {describe(exc)}")
        raise


def read_tenant_locked(tenant_id: int, *, session: boto3.session.Session | None = None) -> str:
    """One bounded read of the tenant's queue under its trail lock (the beat task)."""
    from ingestion.locks import tenant_trail_lock

    tenant = Tenant.objects.filter(pk=tenant_id, active=True, trail_source__enabled=True).first()
    if tenant is None:
        return GONE
    with tenant_trail_lock(tenant.pk) as acquired:
        if not acquired:
            return SKIPPED
        try:
            totals = read_tenant(tenant, budget_s=settings.SGPORTAL_TRAIL_RUN_S, session=session)
        except EXPECTED_ERRORS as exc:
            logger.warning("trail read of %s failed: %s", tenant.slug, describe(exc))
            return "failed"
    return (
        f"{totals.messages} notices, {totals.files_read} files, {totals.new} new, "
        f"{totals.files_failed} failed, {totals.dead_letters} dead letters"
    )
