"""The organization trail reader (issue 12, item 3): the three notice shapes, the S3 log
files, delete-after-commit, dead letters and skips, against a moto server in its own process
(S3, SQS, SNS, STS) with log files built from the real records in ../shared."""

from __future__ import annotations

import gzip
import io
import json
import time

import pytest

from ingestion.models import (
    SOURCE_BITS,
    EventBridgeSource,
    SecurityGroupChange,
    Source,
    TrailDeadLetter,
    TrailSource,
)
from ingestion.sources import rotate_eventbridge_secret
from ingestion.trail import (
    TrailFileError,
    TrailReader,
    _NotFastShape,
    gunzipped,
    notice_of,
    read_tenant,
    scan_fast,
    scan_whole,
)
from tests.ingestion.helpers import realworld
from tests.ingestion.trail_world import (
    filler,
    log_bytes,
    log_key,
    make_trail,
    realworld_records,
)

RECORDS = realworld_records()
EVENT_IDS = {r["eventID"] for r in RECORDS}

pytestmark = pytest.mark.usefixtures("trail_aws")


@pytest.fixture
def trail(tenant, account):
    return make_trail(tenant)


def read(trail, **options):
    return read_tenant(trail.tenant, session=trail.reader_session(), **options)


def source(tenant) -> TrailSource:
    return TrailSource.objects.get(tenant=tenant)


def stored_ids(tenant) -> set[str]:
    return set(SecurityGroupChange.objects.filter(tenant=tenant).values_list("event_id", flat=True))


# --- the three notice shapes ---------------------------------------------------------------
def test_it_reads_s3_notifications_sent_to_the_queue_directly(trail, tenant):
    trail.notify_queue_directly()  # S3 sends its s3:TestEvent now
    trail.put(log_key(), log_bytes(RECORDS))
    totals = read(trail)

    assert stored_ids(tenant) == EVENT_IDS
    assert totals.files_read == 1 and totals.events == len(RECORDS)
    assert totals.records == len(RECORDS) * 21  # 20 other events before each one
    assert totals.skipped == {"test_event": 1}
    changes = SecurityGroupChange.objects.filter(tenant=tenant)
    assert {c.source for c in changes} == {Source.TRAIL}
    assert {c.sources for c in changes} == {SOURCE_BITS[Source.TRAIL]}
    # The queue is empty: each notice deleted once its file was stored.
    assert trail.queue_counts() == (0, 0)
    health = source(tenant)
    assert health.files_read == 1 and health.records_scanned == len(RECORDS) * 21
    assert health.events_delivered == len(RECORDS) and health.new_changes == len(EVENT_IDS)
    assert health.last_delivery_at and health.last_file_at and not health.last_error
    assert health.skipped_test_events == 1 and health.files_skipped == 1
    # The tenant's read role, with the tenant's ExternalId (never without it).
    assert trail.assumed == [
        {
            "RoleArn": trail.role_arn,
            "RoleSessionName": "sgportal-trail-acme",
            "ExternalId": tenant.external_id,
        }
    ]


def test_it_reads_s3_notifications_wrapped_in_sns(trail, tenant):
    trail.notify_through_sns()
    trail.put(log_key(unique="sns1"), log_bytes(RECORDS[:10]))
    trail.put(log_key(unique="sns2"), log_bytes(RECORDS[10:]))
    totals = read(trail)
    assert totals.files_read == 2
    assert stored_ids(tenant) == EVENT_IDS
    assert trail.queue_counts() == (0, 0)


def test_it_reads_cloudtrails_own_sns_notice_with_several_keys(trail, tenant):
    first = trail.put(log_key(unique="ct1"), log_bytes(RECORDS[:5]))
    second = trail.put(log_key("222222222222", unique="ct2"), log_bytes(RECORDS[5:12]))
    digest = (
        "AWSLogs/o-a1b2c3d4e5/111111111111/CloudTrail-Digest/us-east-1/2026/09/14/"
        "111111111111_CloudTrail-Digest_us-east-1_trail_us-east-1_20260914T080500Z.json.gz"
    )
    trail.put(digest, gzip.compress(b"{}"))
    trail.cloudtrail_notice([first, second, digest])
    third = trail.put(log_key(unique="ct3"), log_bytes(RECORDS[12:]))
    trail.cloudtrail_notice([third], raw=True)  # SNS raw message delivery
    totals = read(trail)
    assert totals.files_read == 3 and totals.skipped == {"digest": 1}
    assert stored_ids(tenant) == EVENT_IDS
    assert source(tenant).skipped_digests == 1
    assert trail.queue_counts() == (0, 0)


def test_it_reads_eventbridge_object_created_events(trail, tenant):
    key = trail.put(log_key(unique="eb1"), log_bytes(RECORDS[:3]))
    trail.object_created_event(key)
    totals = read(trail)
    assert totals.files_read == 1
    assert stored_ids(tenant) == {r["eventID"] for r in RECORDS[:3]}


def test_only_security_group_events_are_kept(trail, tenant):
    others = [filler(i, event_name=name) for i, name in enumerate(["RunInstances", "PutObject"])]
    not_ec2 = {**filler(9, event_name="CreateSecurityGroup"), "eventSource": "fake.amazonaws.com"}
    key = trail.put(log_key(), log_bytes([*others, not_ec2, RECORDS[0]], fillers=3))
    trail.cloudtrail_notice([key])
    totals = read(trail)
    assert totals.records == 4 * 4 and totals.events == 1
    assert stored_ids(tenant) == {RECORDS[0]["eventID"]}


def test_a_file_not_written_the_way_aws_writes_it_is_read_whole(trail, tenant):
    """Records whose first key is not eventVersion (sorted keys, pretty-printed): the
    fallback path reads them, with the same result."""
    text = json.dumps({"Records": [filler(1), *RECORDS]}, indent=2, sort_keys=True)
    key = trail.put(log_key(), gzip.compress(text.encode()))
    trail.cloudtrail_notice([key])
    totals = read(trail)
    assert totals.records == len(RECORDS) + 1
    assert stored_ids(tenant) == EVENT_IDS


# --- delete only after commit ----------------------------------------------------------------
class Killed(BaseException):
    """The worker dies (not an Exception: nothing catches it)."""


def test_a_worker_killed_between_upsert_and_delete_causes_no_duplicate(
    trail, tenant, monkeypatch, ingested, django_capture_on_commit_callbacks
):
    key = trail.put(log_key(), log_bytes(RECORDS[:4]))
    trail.cloudtrail_notice([key])

    def die(self, message):
        raise Killed

    with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr(TrailReader, "delete", die)
        with pytest.raises(Killed):
            read(trail, visibility_s=1)
    assert SecurityGroupChange.objects.filter(tenant=tenant).count() == 4  # committed
    assert trail.queue_counts() == (0, 1)  # not deleted: in flight until the visibility ends

    time.sleep(1.2)
    with django_capture_on_commit_callbacks(execute=True):
        totals = read(trail)  # SQS redelivers it
    assert totals.messages == 1 and totals.new == 0 and totals.duplicates == 4
    changes = SecurityGroupChange.objects.filter(tenant=tenant).order_by("id")
    assert changes.count() == 4
    assert ingested == [(tenant.pk, list(changes.values_list("id", flat=True)))]  # announced once
    assert trail.queue_counts() == (0, 0)


def test_a_crash_before_the_commit_stores_nothing_and_keeps_the_notice(trail, tenant, monkeypatch):
    key = trail.put(log_key(), log_bytes(RECORDS[:4]))
    trail.cloudtrail_notice([key])

    def crash(*args, **kwargs):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr("ingestion.trail.record_delivery", crash)  # inside the transaction
        with pytest.raises(Killed):
            read(trail, visibility_s=1)
    assert not SecurityGroupChange.objects.filter(tenant=tenant).exists()  # rolled back
    time.sleep(1.2)
    read(trail)
    assert SecurityGroupChange.objects.filter(tenant=tenant).count() == 4
    assert trail.queue_counts() == (0, 0)


# --- failures: dead letters after the set receives -------------------------------------------
def test_bad_files_are_dead_letters_after_the_set_receives_others_unaffected(
    trail, tenant, settings, scrape_metrics
):
    settings.SGPORTAL_TRAIL_MAX_RECEIVES = 2
    settings.SGPORTAL_TRAIL_RETRY_DELAY_S = 1
    good = log_bytes(RECORDS[:6])
    bad = {
        "corrupt": trail.put(log_key(unique="corrupt"), good[:40] + b"\x00garbage" + good[48:]),
        "truncated": trail.put(log_key(unique="truncated"), good[: len(good) // 2]),
        "not-json": trail.put(log_key(unique="notjson"), gzip.compress(b"<html>oops</html>")),
    }
    good_key = trail.put(log_key(unique="good"), good)
    for key in [bad["corrupt"], good_key, bad["truncated"], bad["not-json"]]:
        trail.cloudtrail_notice([key])
    # A notice naming a good and a bad file: the good one is stored, the notice retried.
    other_good = trail.put(log_key(unique="good2"), log_bytes(RECORDS[6:8]))
    trail.cloudtrail_notice([other_good, bad["truncated"]])

    first = read(trail)
    assert first.files_failed == 4 and first.dead_letters == 0
    assert stored_ids(tenant) == {r["eventID"] for r in RECORDS[:8]}
    assert trail.queue_counts() == (0, 4)  # failed notices stay, hidden for the retry delay
    assert "truncated gzip" in source(tenant).last_error

    time.sleep(1.2)
    second = read(trail)  # second receive = SGPORTAL_TRAIL_MAX_RECEIVES: parked
    assert second.dead_letters == 4
    assert trail.queue_counts() == (0, 0)
    letters = {d.key: d for d in TrailDeadLetter.objects.filter(tenant=tenant)}
    assert set(letters) == set(bad.values())
    assert "not a valid gzip file" in letters[bad["corrupt"]].error
    assert "truncated gzip file" in letters[bad["truncated"]].error
    assert "not JSON" in letters[bad["not-json"]].error
    assert {d.receive_count for d in letters.values()} == {2}
    assert all(d.bucket == trail.bucket and d.body for d in letters.values())
    assert stored_ids(tenant) == {r["eventID"] for r in RECORDS[:8]}  # nothing lost or doubled
    metrics = scrape_metrics()
    assert 'sgportal_trail_dead_letters{tenant="acme"} 4.0' in metrics


def test_a_message_that_is_no_notice_is_parked_at_once(trail, tenant):
    trail.sqs.send_message(QueueUrl=trail.queue_url, MessageBody="hello")
    trail.sqs.send_message(QueueUrl=trail.queue_url, MessageBody=json.dumps({"what": 1}))
    totals = read(trail)
    assert totals.dead_letters == 2
    errors = sorted(TrailDeadLetter.objects.filter(tenant=tenant).values_list("error", flat=True))
    assert errors == [
        "unknown notice: not an S3, CloudTrail or EventBridge object notice",
        "unknown notice: the message is not JSON",
    ]
    assert trail.queue_counts() == (0, 0)


# --- skips -----------------------------------------------------------------------------------
def test_test_events_digests_and_other_objects_are_skipped_and_counted(
    trail, tenant, scrape_metrics
):
    trail.notify_queue_directly()  # -> s3:TestEvent
    trail.put(
        "AWSLogs/o-a1b2c3d4e5/111111111111/CloudTrail-Digest/us-east-1/2026/09/14/d.json.gz", b"x"
    )
    trail.put(
        "AWSLogs/o-a1b2c3d4e5/111111111111/CloudTrail-Insight/us-east-1/2026/09/14/i.json.gz", b"x"
    )
    trail.put("exports/report.csv", b"a,b")
    trail.put(log_key(), log_bytes(RECORDS[:1]))
    totals = read(trail)
    assert totals.skipped == {"test_event": 1, "digest": 1, "not_cloudtrail": 2}
    assert totals.files_read == 1 and not TrailDeadLetter.objects.exists()
    health = source(tenant)
    assert (health.skipped_test_events, health.skipped_digests, health.skipped_not_cloudtrail) == (
        1,
        1,
        2,
    )
    assert health.files_skipped == 4
    metrics = scrape_metrics()
    assert 'sgportal_trail_files_skipped{reason="digest",tenant="acme"} 1.0' in metrics
    assert 'sgportal_trail_files_skipped{reason="not_cloudtrail",tenant="acme"} 2.0' in metrics
    assert 'sgportal_trail_files_skipped{reason="test_event",tenant="acme"} 1.0' in metrics
    assert 'sgportal_trail_files_read{tenant="acme"} 1.0' in metrics


def test_objects_in_another_bucket_than_the_trails_are_not_read(trail, tenant):
    trail.sqs.send_message(
        QueueUrl=trail.queue_url,
        MessageBody=json.dumps({"s3Bucket": "someone-elses-bucket", "s3ObjectKey": [log_key()]}),
    )
    totals = read(trail)
    assert totals.files_read == 0 and totals.skipped == {"not_cloudtrail": 1}


# --- one change, both sources ------------------------------------------------------------------
def test_the_same_event_through_eventbridge_and_trail_is_one_change_with_both(
    client, trail, tenant, other_tenant
):
    secret = rotate_eventbridge_secret(tenant, actor="test")
    EventBridgeSource.objects.filter(tenant=tenant).update(enabled=True)
    outsider_secret = rotate_eventbridge_secret(other_tenant, actor="test")
    EventBridgeSource.objects.filter(tenant=other_tenant).update(enabled=True)
    envelope = realworld(17)

    def post(secret_text):
        return client.post(
            "/ingest/eventbridge/acme/",
            json.dumps(envelope),
            content_type="application/json",
            headers={"X-SGPortal-Secret": secret_text},
        )

    assert post(outsider_secret).status_code == 401  # another tenant's secret
    assert post(secret).status_code == 200
    key = trail.put(log_key(), log_bytes([envelope["detail"], RECORDS[0]]))
    trail.cloudtrail_notice([key])
    totals = read(trail)
    assert totals.new == 1 and totals.duplicates == 1
    change = SecurityGroupChange.objects.get(tenant=tenant, event_id=envelope["detail"]["eventID"])
    assert change.source == Source.EVENTBRIDGE
    assert change.source_list == [Source.EVENTBRIDGE, Source.TRAIL]
    assert SecurityGroupChange.objects.filter(tenant=tenant).count() == 2
    assert not SecurityGroupChange.objects.filter(tenant=other_tenant).exists()


# --- the scanner itself ------------------------------------------------------------------------
def chunks_of(data: bytes):
    return gunzipped(io.BytesIO(data).read)


def test_the_fast_scan_and_the_whole_read_agree_on_real_records():
    data = log_bytes(RECORDS, fillers=100)
    fast, whole = scan_fast(chunks_of(data)), scan_whole(chunks_of(data))
    assert fast.records == whole.records == 101 * len(RECORDS)
    assert [json.loads(m)["eventID"] for m in fast.matches] == [m["eventID"] for m in whole.matches]


def test_the_fast_scan_refuses_what_is_not_in_aws_shape():
    pretty = gzip.compress(json.dumps({"Records": RECORDS}, indent=1).encode())
    with pytest.raises(_NotFastShape):
        scan_fast(chunks_of(pretty))
    assert scan_fast(chunks_of(gzip.compress(b'{"Records":[]}'))).records == 0
    with pytest.raises(TrailFileError, match="empty"):
        scan_fast(chunks_of(b""))


def test_a_record_whose_event_name_is_not_compact_sends_the_file_to_the_whole_read():
    """The header and every record start are AWS's compact shape, but one security-group
    record spells its eventName with a space: the fast scan would read past it, so it
    refuses the file, and the whole read finds it."""
    text = gzip.decompress(log_bytes(RECORDS, fillers=20))
    sg_key = b'"eventName":"AuthorizeSecurityGroupIngress"'
    assert sg_key in text
    data = gzip.compress(text.replace(sg_key, b'"eventName": "AuthorizeSecurityGroupIngress"', 1))
    with pytest.raises(_NotFastShape, match="eventName key not in AWS's compact shape"):
        scan_fast(chunks_of(data))
    whole = scan_whole(chunks_of(data))
    assert len(whole.matches) == len(scan_fast(chunks_of(log_bytes(RECORDS))).matches)


def test_event_name_as_a_value_is_not_a_record_and_keeps_the_fast_scan():
    """An event selector names the field "eventName" (a value, not a key): the fast scan
    neither counts it as a record nor gives up on the file."""
    selector = filler(0, event_name="PutEventSelectors")
    selector["eventSource"] = "cloudtrail.amazonaws.com"
    selector["requestParameters"] = {
        "advancedEventSelectors": [
            {
                "fieldSelectors": [
                    {"field": "eventName", "equals": ["AuthorizeSecurityGroupIngress"]}
                ]
            }
        ]
    }
    text = json.dumps({"Records": [selector]}, separators=(",", ":")).encode()
    rest = gzip.decompress(log_bytes(RECORDS, fillers=5))
    data = gzip.compress(text[:-2] + b"," + rest[len(b'{"Records":[') :])
    fast, whole = scan_fast(chunks_of(data)), scan_whole(chunks_of(data))
    assert fast.records == whole.records == 1 + 6 * len(RECORDS)
    assert [json.loads(m)["eventID"] for m in fast.matches] == [m["eventID"] for m in whole.matches]


def test_several_gzip_members_are_one_file():
    one = log_bytes(RECORDS[:2])
    text = gzip.decompress(one)
    data = gzip.compress(text[:1000]) + gzip.compress(text[1000:])
    assert len(scan_fast(chunks_of(data)).matches) == 2


@pytest.mark.parametrize(
    ("body", "objects"),
    [
        (
            {
                "Records": [
                    {
                        "eventSource": "aws:s3",
                        "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": "b"}, "object": {"key": "AWSLogs%2Fa+b"}},
                    }
                ]
            },
            [],  # the key is URL-decoded ('AWSLogs/a b'): not a log file name
        ),
    ],
)
def test_s3_notification_keys_are_url_decoded(body, objects):
    notice = notice_of(json.dumps(body))
    assert notice.objects == objects and notice.skipped == {"not_cloudtrail": 1}


def test_a_writer_with_spaces_after_colons_goes_to_the_whole_read_and_nothing_is_missed():
    """json.dumps' default separators would hide the compact eventName keys: the fast path
    refuses the file (never scans it half-blind) and the whole read finds every record."""
    from tests.ingestion.trail_world import as_aws_writes

    data = gzip.compress(json.dumps({"Records": [as_aws_writes(r) for r in RECORDS]}).encode())
    with pytest.raises(_NotFastShape, match="compact eventVersion"):
        scan_fast(chunks_of(data))
    assert len(scan_whole(chunks_of(data)).matches) == len(RECORDS)
