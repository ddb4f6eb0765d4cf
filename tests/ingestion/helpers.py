"""Shared helpers for the ingestion tests: fixtures on disk and a Lake client on a stub wire."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import botocore.session

from ingestion.lake import LakeClient
from tests.ingestion.lake_wire import LakeWire

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cloudtrail"
OWN_FIXTURES = Path(__file__).resolve().parent / "fixtures"

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """The project's ``../shared`` folder: ``$SGPORTAL_SHARED_DIR``, else the nearest
    ``shared`` beside the repository or one of its parents (a clone in /work/<name> and a
    worktree in /work/wt/<name> both find /work/shared)."""
    if os.environ.get("SGPORTAL_SHARED_DIR"):
        return Path(os.environ["SGPORTAL_SHARED_DIR"])
    for parent in REPO.parents:
        if (parent / "shared" / "fixtures").is_dir():
            return parent / "shared"
    raise FileNotFoundError(
        f"no shared/fixtures beside {REPO} or its parents; set SGPORTAL_SHARED_DIR"
    )


def realworld_files() -> list[Path]:
    """The AWS-written records in ../shared/fixtures/cloudtrail/realworld (read, not copied)."""
    return sorted((shared_dir() / "fixtures" / "cloudtrail" / "realworld").glob("*.json"))


def realworld(number: int) -> dict:
    """Real-world record NN as a dict."""
    path = next(p for p in realworld_files() if p.name.startswith(f"{number:02d}_"))
    return json.loads(path.read_text())


QID = "9a8b7c6d-5e4f-4a3b-8c2d-000000000001"
RECORD_FILES = sorted(p.name for p in FIXTURES.glob("0*.json"))


def load(name: str) -> dict:
    """A fixture from tests/fixtures/cloudtrail (or tests/ingestion/fixtures)."""
    path = FIXTURES / name
    if not path.exists():
        path = OWN_FIXTURES / name
    return json.loads(path.read_text())


def record(number: int) -> dict:
    """Shared record 01..09 as a dict."""
    name = next(n for n in RECORD_FILES if n.startswith(f"{number:02d}_"))
    return load(name)


def with_event_id(rec: dict, event_id: str, **changes) -> dict:
    """A copy of a record with another eventID (and any top-level changes)."""
    new = copy.deepcopy(rec)
    new["eventID"] = event_id
    new.update(changes)
    return new


def results_page(records: list, *, next_token: str | None = None, total: int | None = None):
    """A get_query_results response whose rows carry these records' eventJson.

    An item may be a dict (encoded compactly, as Lake does) or a str (sent verbatim).
    """
    rows = []
    for item in records:
        text = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
        rec = item if isinstance(item, dict) else {}
        rows.append(
            [
                {"eventID": str(rec.get("eventID", ""))},
                {"eventTime": str(rec.get("eventTime", ""))},
                {"eventName": str(rec.get("eventName", ""))},
                {"eventJson": text},
            ]
        )
    page = {
        "QueryStatus": "FINISHED",
        "QueryResultRows": rows,
        "QueryStatistics": {
            "ResultsCount": len(rows),
            "TotalResultsCount": total if total is not None else len(rows),
            "BytesScanned": 1024,
        },
    }
    if next_token:
        page["NextToken"] = next_token
    return page


def describe(status: str, query_id: str = QID, *, error: str = "") -> dict:
    response = {
        "QueryId": query_id,
        "QueryStatus": status,
        "QueryStatistics": {"EventsMatched": 0, "EventsScanned": 10, "BytesScanned": 4096},
    }
    if error:
        response["ErrorMessage"] = error
    return response


class FakeSleep:
    """Records the delays instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def stubbed_lake(*, owner_account_id: str = "", max_wait_s: float = 600.0):
    """A LakeClient over a real botocore CloudTrail client, answered by a LakeWire (so
    botocore parses every answer and retries through the client's retry handler)."""
    client = botocore.session.get_session().create_client(
        "cloudtrail",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stubber = LakeWire(client)
    sleep = FakeSleep()
    lake = LakeClient(
        client=client, owner_account_id=owner_account_id, sleep=sleep, max_wait_s=max_wait_s
    )
    return lake, stubber, sleep


def expect_query(
    stubber: LakeWire,
    pages: list[dict],
    *,
    query_id: str = QID,
    statement=None,
    statuses: tuple[str, ...] = ("RUNNING", "FINISHED"),
    owner: str = "",
) -> None:
    """Queue start_query, describe_query (each status) and the result pages."""
    from botocore.stub import ANY

    extra = {"EventDataStoreOwnerAccountId": owner} if owner else {}
    stubber.add_response(
        "start_query",
        {"QueryId": query_id},
        {"QueryStatement": statement if statement is not None else ANY, **extra},
    )
    for status in statuses:
        stubber.add_response(
            "describe_query", describe(status, query_id), {"QueryId": query_id, **extra}
        )
    token = None
    for page in pages:
        params = {"QueryId": query_id, "MaxQueryResults": 1000, **extra}
        if token:
            params["NextToken"] = token
        stubber.add_response("get_query_results", page, params)
        token = page.get("NextToken")
