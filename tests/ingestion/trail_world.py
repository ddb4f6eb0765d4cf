"""A tenant's organization trail in a moto server run as its own process: the read role's
account holds the bucket, the SQS queue and an SNS topic; log files are gzipped as AWS writes
them, built from the real records in ../shared/fixtures/cloudtrail/realworld."""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3

from ingestion.models import TrailSource
from tests.e2e.worker import FAKE_CREDENTIALS
from tests.ingestion.helpers import realworld_files

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_process() -> Iterator[str]:
    """``python -m moto.server`` in a process of its own; yields its endpoint."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reset(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", b""))  # noqa: S310


def use_endpoint(monkeypatch, endpoint: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)


# --- log files ---------------------------------------------------------------------------
def realworld_records() -> list[dict]:
    """The 25 AWS-written records (an EventBridge envelope's detail), read from ../shared."""
    records = []
    for path in realworld_files():
        data = json.loads(path.read_text())
        records.append(data["detail"] if "detail-type" in data else data)
    return records


def as_aws_writes(record: dict) -> dict:
    """The record with eventVersion first, as CloudTrail writes every record to S3."""
    record = copy.deepcopy(record)
    version = record.pop("eventVersion", "1.08")
    return {"eventVersion": version, **record}


def filler(n: int, *, event_name: str = "DescribeSecurityGroups") -> dict:
    """A non-security-group record (what most of a log file is)."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111111111111:assumed-role/r/s",
        },
        "eventTime": "2026-09-14T08:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": event_name,
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"securityGroupSet": {}, "filterSet": {}},
        "responseElements": None,
        "requestID": f"req-{n}",
        "eventID": f"00000000-filler-{n:012d}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111111111111",
    }


def log_bytes(records: list[dict], *, fillers: int = 20, aws_shape: bool = True) -> bytes:
    """A gzipped log file: ``fillers`` other events before each record."""
    out, n = [], 0
    for record in records:
        for _ in range(fillers):
            out.append(filler(n))
            n += 1
        out.append(as_aws_writes(record) if aws_shape else record)
    text = json.dumps({"Records": out}, separators=(",", ":"))
    return gzip.compress(text.encode())


def log_key(
    account: str = "111111111111",
    *,
    when: datetime = datetime(2026, 9, 14, 8, 5, tzinfo=UTC),
    region: str = REGION,
    org: str | None = "o-a1b2c3d4e5",
    unique: str = "AbCd1234",
    prefix: str = "",
) -> str:
    owner = f"{org}/{account}" if org else account
    return (
        f"{prefix}AWSLogs/{owner}/CloudTrail/{region}/{when:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{unique}.json.gz"
    )


# --- a tenant's trail ----------------------------------------------------------------------
@dataclass
class Trail:
    """One tenant's trail resources, created with the tenant's read role."""

    tenant: object
    role_arn: str
    bucket: str
    session: boto3.session.Session
    queue_url: str = ""
    queue_arn: str = ""
    topic_arn: str = ""
    assumed: list[dict] = field(default_factory=list)

    @property
    def s3(self):
        return self.session.client("s3", region_name=REGION)

    @property
    def sqs(self):
        return self.session.client("sqs", region_name=REGION)

    @property
    def sns(self):
        return self.session.client("sns", region_name=REGION)

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return key

    def notify_queue_directly(self) -> None:
        """S3 event notifications straight to the queue (S3 sends an s3:TestEvent first)."""
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"QueueArn": self.queue_arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )

    def notify_through_sns(self) -> None:
        """S3 event notifications to an SNS topic the queue subscribes to."""
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "TopicConfigurations": [
                    {"TopicArn": self.topic_arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )

    def cloudtrail_notice(self, keys: list[str], *, raw: bool = False) -> None:
        """CloudTrail's own SNS log-delivery notice (through the topic, or raw to the queue)."""
        message = json.dumps({"s3Bucket": self.bucket, "s3ObjectKey": keys})
        if raw:
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=message)
        else:
            self.sns.publish(TopicArn=self.topic_arn, Message=message)

    def object_created_event(self, key: str) -> None:
        """An EventBridge "Object Created" event (an EventBridge rule with the queue as
        target)."""
        event = {
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": self.role_arn.split(":")[4],
            "time": "2026-09-14T08:05:42Z",
            "region": REGION,
            "resources": [f"arn:aws:s3:::{self.bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": self.bucket},
                "object": {"key": key, "size": 1024, "etag": "abc", "sequencer": "00617F08"},
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": "cloudtrail.amazonaws.com",
                "reason": "PutObject",
            },
        }
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(event))

    def queue_counts(self) -> tuple[int, int]:
        """(visible, in flight) messages on the queue."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return (
            int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        )

    def reader_session(self) -> boto3.session.Session:
        """The worker's own session, recording every AssumeRole it makes."""
        session = boto3.session.Session()

        def record(params, **kwargs):
            self.assumed.append(dict(params))

        session.events.register("provide-client-params.sts.AssumeRole", record)
        return session


def make_trail(
    tenant, *, account: str = "333333333333", bucket: str | None = None, prefix: str = ""
) -> Trail:
    """The tenant's bucket, queue and topic in ``account`` (created with the read role, as
    the tenant would) and an enabled TrailSource pointing at them."""
    role_arn = f"arn:aws:iam::{account}:role/SgPortalTrailRead"
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=role_arn, RoleSessionName="setup", ExternalId=tenant.external_id
    )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    trail = Trail(
        tenant=tenant,
        role_arn=role_arn,
        bucket=bucket or f"{tenant.slug}-org-trail-logs",
        session=session,
    )
    trail.s3.create_bucket(Bucket=trail.bucket)
    trail.queue_url = trail.sqs.create_queue(QueueName=f"{tenant.slug}-trail-notices")["QueueUrl"]
    trail.queue_arn = trail.sqs.get_queue_attributes(
        QueueUrl=trail.queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    trail.topic_arn = trail.sns.create_topic(Name=f"{tenant.slug}-trail-topic")["TopicArn"]
    trail.sns.subscribe(TopicArn=trail.topic_arn, Protocol="sqs", Endpoint=trail.queue_arn)
    TrailSource.objects.update_or_create(
        tenant=tenant,
        defaults={
            "enabled": True,
            "queue_url": trail.queue_url,
            "region": REGION,
            "read_role_arn": role_arn,
            "bucket": trail.bucket,
            "prefix": prefix,
        },
    )
    return trail


def endpoint_env() -> str:
    return os.environ["AWS_ENDPOINT_URL"]
