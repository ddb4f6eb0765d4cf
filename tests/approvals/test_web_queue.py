"""The web queue for triage (issue 13 item 2): filters, search, sort, counts, polling
fragment and bulk approve — always within the user's tenants."""

from __future__ import annotations

import datetime as dt

import pytest

from approvals.models import Decision
from ingestion.models import ChangeStatus, SecurityGroupChange
from ingestion.rules import Rule
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.factories import ChangeFactory
from tests.factories import AwsAccountFactory


def rule(**kw) -> dict:
    base = {"action": "added", "direction": "ingress", "protocol": "tcp", "from_port": 443}
    base.update(kw)
    base.setdefault("to_port", base["from_port"])
    return Rule(**base).to_json()


@pytest.fixture
def mixed(account, other_account):
    """A handful of Acme changes that differ in one thing each, and one of Globex's."""
    eu = AwsAccountFactory(tenant=account.tenant, account_id="222222222222", name="staging")
    return {
        "ssh": ChangeFactory(account=account, group_id="sg-0ssh000000000000"),
        "office": ChangeFactory(
            account=account,
            group_id="sg-0office00000000",
            group_name="office-vpn",
            rules=[rule(cidr_ipv4="203.0.113.0/24", rule_id="sgr-0office")],
            actor_arn="arn:aws:iam::111111111111:user/terraform-ci",
            user_agent="APN/1.0 HashiCorp/1.0 Terraform/1.9.0",
            region="eu-west-1",
        ),
        "staging": ChangeFactory(
            account=eu,
            group_id="sg-0staging0000000",
            rules=[rule(cidr_ipv6="::/0", from_port=80)],
            source_ip="192.0.2.77",
        ),
        "done": ChangeFactory(
            account=account, group_id="sg-0done000000000", status=ChangeStatus.APPROVED
        ),
        "foreign": ChangeFactory(account=other_account, group_id="sg-0f0reign0000000"),
    }


def groups_on(client, query: str) -> set[str]:
    page = client.get(f"/?{query}").content.decode()
    page = page.split("<tbody>", 1)[1] if "<tbody>" in page else ""  # the rows only
    return {g for g in ("ssh", "office", "staging", "done", "f0reign") if f"sg-0{g}" in page}


def test_it_filters_by_each_field_inside_the_users_tenants(client, viewer, mixed):
    client.force_login(viewer)
    acme = mixed["ssh"].tenant_id
    assert groups_on(client, "") == {"ssh", "office", "staging", "done"}
    assert groups_on(client, "status=approved") == {"done"}
    assert groups_on(client, "severity=4") == {"ssh", "done"}  # critical: SSH from the world
    assert groups_on(client, "severity=3") == {"ssh", "done", "staging"}
    assert groups_on(client, f"account={mixed['staging'].account_id}") == {"staging"}
    assert groups_on(client, "region=EU-WEST-1") == {"office"}
    assert groups_on(client, "actor=terraform-ci") == {"office"}
    assert groups_on(client, "tool=terraform") == {"office"}
    assert groups_on(client, "tool=cli") == {"ssh", "staging", "done"}
    assert groups_on(client, "world=true") == {"ssh", "staging", "done"}
    assert groups_on(client, f"tenant={acme}") == {"ssh", "office", "staging", "done"}
    assert groups_on(client, "event_name=RevokeSecurityGroupIngress") == set()
    assert groups_on(client, "source=lake") == set()


def test_it_searches_actor_group_cidr_ip_event_and_rule_id(client, viewer, mixed):
    client.force_login(viewer)
    assert groups_on(client, "q=office-vpn") == {"office"}
    assert groups_on(client, "q=203.0.113.0/24") == {"office"}
    assert groups_on(client, "q=sgr-0office") == {"office"}
    assert groups_on(client, "q=192.0.2.77") == {"staging"}
    assert groups_on(client, f"q={mixed['staging'].event_id}") == {"staging"}
    assert groups_on(client, "q=terraform-ci") == {"office"}
    # The search never reaches another tenant's rows.
    assert groups_on(client, "q=sg-0f0reign") == set()


def test_it_combines_two_filters_and_a_search(client, viewer, mixed):
    client.force_login(viewer)
    assert groups_on(client, "status=pending&world=true&q=sg-0ssh") == {"ssh"}
    assert groups_on(client, "status=pending&severity=4&q=staging") == set()


def test_it_filters_by_a_time_range_of_whole_utc_days(client, viewer, outsider, mixed):
    when = {
        "office": dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC),
        "staging": dt.datetime(2026, 3, 10, 23, 59, tzinfo=dt.UTC),
        "foreign": dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC),
    }
    for name, at in when.items():
        SecurityGroupChange.objects.filter(pk=mixed[name].pk).update(ingested_at=at)
    client.force_login(viewer)
    assert groups_on(client, "after=2026-03-01&before=2026-03-31") == {"staging"}
    assert groups_on(client, "after=2026-01-01&before=2026-01-01") == {"office"}  # inclusive
    assert groups_on(client, "after=2026-03-11&before=2026-03-31") == set()
    assert groups_on(client, "before=2026-06-30") == {"office", "staging"}
    assert groups_on(client, "after=2026-06-30") == {"ssh", "done"}
    assert groups_on(client, "after=2026-01-01&status=pending&world=true") == {"ssh", "staging"}
    page = client.get("/?after=2026-03-01&before=2026-03-31").content.decode()
    assert 'value="2026-03-01"' in page and 'value="2026-03-31"' in page  # the form keeps them
    # The other tenant's user sees its own change in that range, never ours.
    client.force_login(outsider)
    assert groups_on(client, "after=2026-03-01&before=2026-03-31") == {"f0reign"}


def test_it_sorts_by_severity_or_by_waiting_time(client, viewer, mixed):
    client.force_login(viewer)
    SecurityGroupChange.objects.filter(pk=mixed["office"].pk).update(
        ingested_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    by_severity = client.get("/?sort=severity&status=pending").content.decode()
    assert (
        by_severity.index("sg-0ssh")
        < by_severity.index("sg-0staging")
        < by_severity.index("sg-0office")
    )
    oldest = client.get("/?sort=oldest&status=pending").content.decode()
    assert oldest.index("sg-0office") < oldest.index("sg-0ssh")


def test_it_shows_severity_in_words_who_and_tool_and_counts_per_status(client, viewer, mixed):
    client.force_login(viewer)
    page = client.get("/").content.decode()
    assert "critical" in page and 'class="sev sev-4"' in page
    assert "Terraform" in page and "terraform-ci" in page and "AWS CLI" in page
    assert "office-vpn" in page and "staging (222222222222)" in page
    assert 'status=pending"' in page and '<span class="badge">3</span>' in page
    assert '<span class="badge">1</span>' in page  # one approved


def test_the_poll_returns_only_the_results_fragment(client, viewer, mixed):
    client.force_login(viewer)
    response = client.get("/?status=pending", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.startswith('<div id="queue-results"')
    assert "sg-0ssh" in body and "sg-0done" not in body and "<html" not in body


def test_a_bad_filter_value_is_reported_not_a_crash(client, viewer, mixed):
    client.force_login(viewer)
    response = client.get("/?severity=9&after=yesterday")
    assert response.status_code == 200
    assert b"not understood" in response.content


def test_bulk_approve_decides_each_selected_change_with_the_reason(client, approver, mixed):
    client.force_login(approver)
    picked = [mixed["ssh"].pk, mixed["office"].pk]
    response = client.post(
        "/changes/approve/", {"change": picked, "reason": "planned work", "query": "status=pending"}
    )
    assert response.status_code == 302 and response.url == "/?status=pending"
    decisions = Decision.objects.filter(change_id__in=picked)
    assert sorted(decisions.values_list("change_id", flat=True)) == sorted(picked)
    assert set(decisions.values_list("reason", "via")) == {("planned work", "web")}
    assert AuditEntry.objects.filter(action=AuditAction.DECIDE).count() == 2
    assert SecurityGroupChange.objects.get(pk=mixed["staging"].pk).status == "pending"


def test_bulk_approve_needs_a_reason(client, approver, mixed):
    client.force_login(approver)
    client.post("/changes/approve/", {"change": [mixed["ssh"].pk], "reason": " "})
    assert not Decision.objects.exists()


def test_bulk_approve_skips_decided_changes_and_says_so(client, approver, mixed):
    client.force_login(approver)
    response = client.post(
        "/changes/approve/",
        {"change": [mixed["done"].pk, mixed["ssh"].pk], "reason": "ok"},
        follow=True,
    )
    assert Decision.objects.filter(change=mixed["ssh"]).exists()
    assert not Decision.objects.filter(change=mixed["done"]).exists()
    assert b"Not approved: 1" in response.content


def test_a_viewer_cannot_bulk_approve(client, viewer, mixed):
    client.force_login(viewer)
    client.post("/changes/approve/", {"change": [mixed["ssh"].pk], "reason": "sneaky"})
    assert not Decision.objects.exists()
    assert b"Approve selected" not in client.get("/").content


def test_an_outsider_cannot_bulk_approve_or_see_acme(client, outsider, mixed):
    client.force_login(outsider)
    client.post("/changes/approve/", {"change": [mixed["ssh"].pk], "reason": "mine now"})
    assert not Decision.objects.filter(change=mixed["ssh"]).exists()
    assert groups_on(client, "") == {"f0reign"}
    assert groups_on(client, f"tenant={mixed['ssh'].tenant_id}") == set()
    assert groups_on(client, f"account={mixed['ssh'].account_id}") == set()


def test_bulk_approve_never_redirects_off_site(client, approver, mixed):
    client.force_login(approver)
    response = client.post(
        "/changes/approve/",
        {"change": [mixed["ssh"].pk], "reason": "x", "query": "//evil.example/"},
    )
    assert response.url == "/"


def test_ingest_rates_severity_for_the_queue(tenant, account):
    from approvals import wording
    from ingestion.models import Source
    from ingestion.parser import parse_record
    from ingestion.store import store_changes
    from tests.ingestion.helpers import record

    ids = store_changes(tenant, [parse_record(record(n)) for n in (1, 2, 3)], source=Source.LAKE)
    stored = SecurityGroupChange.objects.filter(pk__in=ids.new_ids)
    assert stored.count() == 3
    for change in stored:
        assert change.severity >= 1
        assert change.severity == wording.severity_of(change).level
