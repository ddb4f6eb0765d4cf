"""The demo's AWS side, in the local emulator (moto server): the producer half of the real
ingestion paths, in AWS's own shapes.

- EventBridge: the event AWS's default bus emits for a CloudTrail-recorded EC2 call
  ("AWS API Call via CloudTrail"), POSTed as an API destination does to
  ``/ingest/eventbridge/<tenant>/`` with the connection's ``X-SGPortal-Secret`` header.
- The organization trail: a gzipped CloudTrail log file (``{"Records":[…]}``, compact,
  one file per account and region, other events mixed in) written under
  ``AWSLogs/<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/`` in the log-archive account's
  bucket, whose S3 event notification goes to an SQS queue. sgportal's trail reader
  (``manage.py ingest_trail``) reads that queue with the read role.

Dev-only: never used against real AWS (every entry point checks AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
import secrets
import string
import urllib.error
import urllib.request
import uuid

import boto3

DEMO_EVENTBRIDGE_SECRET = "demo-eventbridge-secret"  # noqa: S105 (the demo's, printed nowhere)
ORG_ID = "o-demo0rg0001"
LOG_ACCOUNT = "333333333333"  # the organization's log-archive account
TRAIL_REGION = "us-east-1"
TRAIL_BUCKET = "demo-org-cloudtrail-logs"
TRAIL_QUEUE = "demo-org-trail-notices"
TRAIL_READ_ROLE = f"arn:aws:iam::{LOG_ACCOUNT}:role/SgPortalTrailRead"


class NotAnEmulator(RuntimeError):
    """AWS_ENDPOINT_URL is not set: this module only talks to the local emulator."""


def require_emulator() -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint:
        raise NotAnEmulator("the demo's AWS side needs AWS_ENDPOINT_URL (the local emulator)")
    return endpoint


def session_in(role_arn: str, *, external_id: str = "", name: str = "sgportal-demo"):
    """A boto3 session in the role's account (the emulator keeps accounts apart by the
    assumed role's credentials)."""
    require_emulator()
    params = {"RoleArn": role_arn, "RoleSessionName": name}
    if external_id:
        params["ExternalId"] = external_id
    credentials = boto3.client("sts", region_name=TRAIL_REGION).assume_role(**params)["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=TRAIL_REGION,
    )


def ensure_trail() -> str:
    """The trail's bucket and queue in the log-archive account, the bucket notifying the
    queue of every new object (as the ingestion docs tell a team to set up); returns the
    queue URL. Idempotent."""
    session = session_in(
        f"arn:aws:iam::{LOG_ACCOUNT}:role/OrganizationAccountAccessRole", name="demo-setup"
    )
    sqs, s3 = session.client("sqs"), session.client("s3")
    queue_url = sqs.create_queue(QueueName=TRAIL_QUEUE, Attributes={"VisibilityTimeout": "60"})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if TRAIL_BUCKET not in existing:
        s3.create_bucket(Bucket=TRAIL_BUCKET)
        s3.put_bucket_notification_configuration(
            Bucket=TRAIL_BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "Id": "sgportal-trail",
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                    }
                ]
            },
        )
    return queue_url


def eventbridge_event(record: dict) -> dict:
    """The event EventBridge's default bus emits for a CloudTrail-recorded EC2 call."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }


def post_eventbridge(url: str, events: list[dict], secret: str = DEMO_EVENTBRIDGE_SECRET):
    """POST the events as an EventBridge API destination does; (status, answer text)."""
    request = urllib.request.Request(  # noqa: S310 (the demo's own local URL)
        url,
        data=json.dumps(events if len(events) > 1 else events[0]).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "X-SGPortal-Secret": secret,
            "User-Agent": "Amazon/EventBridge/ApiDestinations",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def trail_key(account_id: str, region: str, when: dt.datetime) -> str:
    """Where CloudTrail writes an organization trail's log file."""
    unique = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
    return (
        f"AWSLogs/{ORG_ID}/{account_id}/CloudTrail/{region}/{when:%Y/%m/%d}/"
        f"{account_id}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{unique}.json.gz"
    )


def _other_record(account_id: str, region: str, when: str) -> dict:
    """An unrelated record of the kind that fills real log files."""
    name, source = random.choice(  # noqa: S311 (demo data)
        [
            ("DescribeSecurityGroups", "ec2.amazonaws.com"),
            ("DescribeInstances", "ec2.amazonaws.com"),
            ("GetCallerIdentity", "sts.amazonaws.com"),
            ("AssumeRole", "sts.amazonaws.com"),
        ]
    )
    return {
        "eventVersion": "1.10",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{account_id}:assumed-role/monitoring/scraper",
            "accountId": account_id,
        },
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "10.20.3.4",
        "userAgent": "Boto3/1.35.10 md/Botocore#1.35.10",
        "requestParameters": None,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }


def write_trail_file(records: list[dict], *, s3=None) -> str:
    """One CloudTrail log file holding ``records`` (one account and region) and a few other
    events, gzipped into the trail bucket (whose notification reaches the queue); the key."""
    first = records[0]
    account_id, region = first["recipientAccountId"], first["awsRegion"]
    mixed = list(records)
    for _ in range(random.randint(1, 3)):  # noqa: S311
        mixed.insert(
            random.randint(0, len(mixed)),  # noqa: S311
            _other_record(account_id, region, first["eventTime"]),
        )
    # CloudTrail writes compact JSON, every record starting with eventVersion.
    body = gzip.compress(json.dumps({"Records": mixed}, separators=(",", ":")).encode())
    key = trail_key(account_id, region, dt.datetime.now(dt.UTC))
    if s3 is None:
        s3 = session_in(
            f"arn:aws:iam::{LOG_ACCOUNT}:role/OrganizationAccountAccessRole", name="demo-trail"
        ).client("s3")
    s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=body, ContentType="application/json")
    return key
