"""The Lake client: safe query building, the query lifecycle, paging, retries, the read role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ingestion.lake import (
    InvalidLakeSetting,
    LakeClient,
    build_query,
    event_data_store_id,
    lake_client_for,
)
from ingestion.models import LakeSource
from tests.ingestion.helpers import (
    FIXTURES,
    QID,
    FakeSleep,
    expect_query,
    load,
    results_page,
    stubbed_lake,
)
from tests.ingestion.lake_wire import LakeWire

STORE_ARN = (
    "arn:aws:cloudtrail:us-east-1:333333333333:eventdatastore/4f1d2c3b-a5e6-4789-8abc-0d1e2f3a4b5c"
)
START = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
END = datetime(2026, 9, 14, 11, 0, tzinfo=UTC)


def test_it_builds_the_documented_query_for_a_window():
    expected = (FIXTURES / "lake_query.sql").read_text().rstrip("\n")
    assert build_query(STORE_ARN, START, END) == expected
    assert build_query("4f1d2c3b-a5e6-4789-8abc-0d1e2f3a4b5c", START, END) == expected


def test_it_converts_bounds_to_utc():
    paris = timezone(timedelta(hours=2))
    sql = build_query(STORE_ARN, START.astimezone(paris), END.astimezone(paris))
    assert "eventTime >= '2026-09-14 08:00:00'" in sql
    assert "eventTime < '2026-09-14 11:00:00'" in sql


@pytest.mark.parametrize(
    "store",
    [
        "4f1d2c3b' OR '1'='1",
        "abc; DROP TABLE x",
        "abc-- comment",
        "abc def",
        "x",
        "arn:aws:cloudtrail:us-east-1:333333333333:eventdatastore/abc WHERE 1=1",
        "arn:aws:cloudtrail:us-east-1:333333333333:eventdatastore/a.b",
        "foo:bar",
        "",
    ],
)
def test_it_refuses_an_event_data_store_that_is_not_an_id(store):
    with pytest.raises(InvalidLakeSetting):
        build_query(store, START, END)


def test_it_refuses_naive_and_empty_windows():
    with pytest.raises(InvalidLakeSetting):
        build_query(STORE_ARN, START.replace(tzinfo=None), END)
    with pytest.raises(InvalidLakeSetting):
        build_query(STORE_ARN, END, START)
    with pytest.raises(InvalidLakeSetting):
        build_query(STORE_ARN, "2026-09-14' OR 1=1 --", END)


def test_it_accepts_ids_and_arns_of_other_partitions():
    assert event_data_store_id("EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE") == (
        "EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE"
    )
    arn = "arn:aws-us-gov:cloudtrail:us-gov-west-1:333333333333:eventdatastore/abc-123"
    assert event_data_store_id(arn) == "abc-123"


def test_it_runs_a_query_and_streams_the_fixture_pages():
    lake, stubber, sleep = stubbed_lake()
    statement = build_query(STORE_ARN, START, END)
    stubber.add_response(
        "start_query", load("lake_start_query_response.json"), {"QueryStatement": statement}
    )
    query_id = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    for name in ("lake_describe_query_running.json", "lake_describe_query_finished.json"):
        stubber.add_response("describe_query", load(name), {"QueryId": query_id})
    page1, page2 = load("lake_query_results_page1.json"), load("lake_query_results_page2.json")
    stubber.add_response("get_query_results", page1, {"QueryId": query_id, "MaxQueryResults": 1000})
    stubber.add_response(
        "get_query_results",
        page2,
        {"QueryId": query_id, "MaxQueryResults": 1000, "NextToken": page1["NextToken"]},
    )
    with stubber:
        assert lake.start(statement) == query_id
        outcome = lake.wait(query_id)
        pages = list(lake.pages(query_id))
    stubber.assert_no_pending_responses()
    assert (outcome.status, outcome.bytes_scanned) == ("FINISHED", 1843200)
    assert [len(p.events) for p in pages] == [5, 4]
    assert pages[0].total_results == 9
    assert pages[0].events[0].startswith('{"eventVersion":"1.10"')
    assert len(sleep.calls) == 1  # one wait between RUNNING and FINISHED


def test_it_reports_a_failed_query_with_its_message():
    lake, stubber, _ = stubbed_lake()
    failed = load("lake_describe_query_failed.json")
    stubber.add_response("describe_query", failed, {"QueryId": failed["QueryId"]})
    with stubber:
        outcome = lake.wait(failed["QueryId"])
    assert outcome.status == "FAILED"
    assert "does not exist" in outcome.error


def test_it_retries_throttling_and_max_concurrent_queries_with_backoff():
    lake, stubber, sleep = stubbed_lake()
    stubber.add_client_error("start_query", "MaxConcurrentQueriesException", http_status_code=429)
    stubber.add_client_error("start_query", "ThrottlingException", http_status_code=400)
    stubber.add_response("start_query", {"QueryId": QID})
    with stubber:
        assert lake.start("SELECT 1") == QID
    assert sleep.calls == [1.0, 2.0]


def test_it_gives_up_after_max_attempts_and_does_not_retry_other_errors():
    lake, stubber, sleep = stubbed_lake()
    lake.max_attempts = 2
    for _ in range(2):
        stubber.add_client_error("describe_query", "ThrottlingException")
    with stubber, pytest.raises(ClientError):
        lake.wait(QID)
    assert sleep.calls == [1.0]

    lake, stubber, sleep = stubbed_lake()
    stubber.add_client_error("start_query", "InvalidQueryStatementException")
    with stubber, pytest.raises(ClientError):
        lake.start("SELECT nonsense")
    assert sleep.calls == []


def test_botocore_retries_connection_errors_and_server_errors_through_the_same_handler():
    lake, wire, sleep = stubbed_lake()
    wire.add_connection_error("get_query_results")
    wire.add_client_error("get_query_results", "InternalServerError", http_status_code=500)
    wire.add_response("get_query_results", results_page([]))
    with wire:
        assert [page.events for page in lake.pages(QID)] == [[]]
    wire.assert_no_pending_responses()
    assert [operation for operation, _ in wire.requests] == ["GetQueryResults"] * 3
    assert sleep.calls == [1.0, 2.0]


def test_one_handler_decides_retries_on_the_client_lake_client_for_builds(tenant):
    """botocore's own retry handler is replaced, not stacked: persistent throttling costs
    exactly max_attempts requests (a loop around botocore's 3 tries once cost 6 x 3), and
    every wait is the LakeClient's."""
    LakeSource.objects.create(tenant=tenant, region="us-east-1")
    sleep = FakeSleep()
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    lake = lake_client_for(tenant, sleep=sleep, session=session)
    wire = LakeWire(lake.client)
    for _ in range(lake.max_attempts):
        wire.add_client_error("start_query", "ThrottlingException")
    wire.add_client_error("start_query", "MaxConcurrentQueriesException")
    wire.add_response("start_query", {"QueryId": QID})
    with wire, pytest.raises(ClientError) as raised:
        lake.start("SELECT 1")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["MaxAttemptsReached"] is True
    assert len(wire.requests) == lake.max_attempts == 6
    assert sleep.calls == [1.0, 2.0, 4.0, 8.0, 16.0]

    sleep.calls.clear()
    with wire:
        assert lake.start("SELECT 1") == QID  # the quota error is retried too
    assert sleep.calls == [1.0]


def test_it_cancels_and_times_out_a_query_that_runs_too_long():
    lake, stubber, sleep = stubbed_lake(max_wait_s=5)
    for _ in range(5):
        stubber.add_response("describe_query", {"QueryId": QID, "QueryStatus": "RUNNING"})
    stubber.add_response("cancel_query", {"QueryId": QID, "QueryStatus": "CANCELLED"})
    with stubber:
        outcome = lake.wait(QID)
    stubber.assert_no_pending_responses()
    assert outcome.status == "TIMED_OUT"
    assert sum(sleep.calls) >= 5


def test_it_passes_the_owner_account_of_a_delegated_store():
    lake, stubber, _ = stubbed_lake(owner_account_id="333333333333")
    expect_query(stubber, [load("lake_query_results_page2.json")], owner="333333333333")
    with stubber:
        query_id = lake.start("SELECT 1")
        lake.wait(query_id)
        assert [len(p.events) for p in lake.pages(query_id)] == [4]
    stubber.assert_no_pending_responses()
    with pytest.raises(InvalidLakeSetting):
        LakeClient(client=None, owner_account_id="33333' OR 1=1")


@mock_aws
def test_it_assumes_the_tenants_read_role_with_its_external_id(tenant):
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="LakeReader", AssumeRolePolicyDocument="{}")["Role"]
    LakeSource.objects.create(
        tenant=tenant,
        read_role_arn=role["Arn"],
        region="eu-west-1",
        owner_account_id="333333333333",
    )
    seen = []
    session = boto3.session.Session(region_name="us-east-1")
    session.events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **kw: seen.append(dict(params))
    )
    lake = lake_client_for(tenant, session=session)
    assert seen == [
        {
            "RoleArn": role["Arn"],
            "RoleSessionName": "sgportal-lake-acme",
            "ExternalId": tenant.external_id,
        }
    ]
    credentials = lake.client._request_signer._credentials
    assert credentials.access_key.startswith("ASIA")  # temporary, from STS, not the caller's
    assert lake.client.meta.region_name == "eu-west-1"
    assert lake.owner_account_id == "333333333333"


@mock_aws
def test_it_uses_the_ambient_credentials_without_a_read_role(tenant):
    LakeSource.objects.create(tenant=tenant, region="us-east-1")
    seen = []
    session = boto3.session.Session(region_name="us-east-1")
    session.events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **kw: seen.append(params)
    )
    lake = lake_client_for(tenant, session=session)
    assert seen == []
    assert lake.client.meta.region_name == "us-east-1"
