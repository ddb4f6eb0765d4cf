"""manage.py ingest_trail (queue reads and backfills), the beat task, and tenants kept apart:
an outsider tenant's queue and role are never used for another tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from ingestion import tasks
from ingestion.models import SecurityGroupChange, TrailSource
from tests.beat import start_beat
from tests.ingestion.trail_world import log_bytes, log_key, make_trail, realworld_records

RECORDS = realworld_records()

pytestmark = pytest.mark.usefixtures("trail_aws")


def ids(tenant) -> set[str]:
    return set(SecurityGroupChange.objects.filter(tenant=tenant).values_list("event_id", flat=True))


def event_ids(records) -> set[str]:
    return {r["eventID"] for r in records}


# --- reading the queue -------------------------------------------------------------------------
def test_ingest_trail_once_reads_the_queue_and_reports(tenant, account, capsys):
    trail = make_trail(tenant)
    key = trail.put(log_key(), log_bytes(RECORDS[:3]))
    trail.cloudtrail_notice([key])
    call_command("ingest_trail", "--tenant", "acme", "--once")
    out = capsys.readouterr().out
    assert "acme: 1 notice(s), 1 file(s) read, 63 records, 3 security-group events, 3 new" in out
    assert ids(tenant) == event_ids(RECORDS[:3])
    assert trail.queue_counts() == (0, 0)


def test_ingest_trail_exits_non_zero_when_the_queue_cannot_be_read(tenant):
    make_trail(tenant)
    TrailSource.objects.filter(tenant=tenant).update(
        queue_url="http://127.0.0.1:1/333333333333/no-such-queue"
    )
    with pytest.raises(CommandError, match="the trail of acme could not be read"):
        call_command("ingest_trail", "--tenant", "acme", "--once")
    assert "reading the queue" in TrailSource.objects.get(tenant=tenant).last_error


# --- backfill --------------------------------------------------------------------------------
def test_backfill_loads_the_files_of_the_time_range_with_a_progress_bar(tenant, account, capsys):
    trail = make_trail(tenant, prefix="org/")
    inside = [
        # an organization trail: AWSLogs/<org>/<account>/CloudTrail/<region>/Y/M/D/
        (log_key(when=datetime(2026, 9, 14, 23, 55, tzinfo=UTC), prefix="org/"), RECORDS[0:3]),
        (
            log_key(
                "222222222222",
                when=datetime(2026, 9, 15, 0, 10, tzinfo=UTC),
                region="eu-west-1",
                prefix="org/",
            ),
            RECORDS[3:6],
        ),
    ]
    outside = [
        (log_key(when=datetime(2026, 9, 14, 8, 0, tzinfo=UTC), prefix="org/"), RECORDS[6:8]),
        (log_key(when=datetime(2026, 9, 16, 0, 0, tzinfo=UTC), prefix="org/"), RECORDS[8:10]),
    ]
    for key, records in inside + outside:
        trail.put(key, log_bytes(records))
    trail.put(  # a digest of the same day: not a log
        "org/AWSLogs/o-a1b2c3d4e5/111111111111/CloudTrail-Digest/us-east-1/2026/09/14/"
        "111111111111_CloudTrail-Digest_us-east-1_t_us-east-1_20260914T235500Z.json.gz",
        b"{}",
    )
    call_command(
        "ingest_trail",
        "--tenant",
        "acme",
        "--since",
        "2026-09-14T23:00:00Z",
        "--until",
        "2026-09-15T01:00:00Z",
    )
    captured = capsys.readouterr()
    assert ids(tenant) == event_ids(RECORDS[0:6])
    assert "2 file(s) read" in captured.out and "6 new" in captured.out
    assert "2/2" in captured.err  # tqdm's bar
    assert TrailSource.objects.get(tenant=tenant).files_read == 2


def test_a_backfill_reports_files_it_could_not_read(tenant, capsys):
    trail = make_trail(tenant)
    trail.put(log_key(), b"not gzip")
    with pytest.raises(CommandError, match="1 file"):
        call_command("ingest_trail", "--tenant", "acme", "--since", "2026-09-14")
    assert "not a valid gzip file" in capsys.readouterr().err


# --- clear errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nobody", "--once"], "No tenant with slug 'nobody'"),
        (["--tenant", "globex", "--once"], "Tenant 'globex' has no organization trail source"),
        (["--tenant", "acme", "--since", "yesterday"], "--since 'yesterday' is not a timestamp"),
        (
            ["--tenant", "acme", "--since", "2026-09-15", "--until", "2026-09-14"],
            "is not before --until",
        ),
        (["--tenant", "acme", "--until", "2026-09-14"], "--until needs --since"),
        (["--since", "2026-09-14"], "A backfill (--since) needs --tenant"),
    ],
)
def test_the_command_names_what_is_wrong(tenant, other_tenant, args, message):
    make_trail(tenant)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("ingest_trail", *args)


def test_a_disabled_source_is_not_read_but_can_be_backfilled(tenant):
    make_trail(tenant)
    TrailSource.objects.filter(tenant=tenant).update(enabled=False)
    with pytest.raises(CommandError, match="Reading the trail is off for tenant 'acme'"):
        call_command("ingest_trail", "--tenant", "acme", "--once")
    with pytest.raises(CommandError, match="No active tenant has an enabled"):
        call_command("ingest_trail", "--once")
    call_command("ingest_trail", "--tenant", "acme", "--since", "2026-09-14")  # nothing to load


def test_a_backfill_needs_the_bucket(tenant):
    make_trail(tenant)
    TrailSource.objects.filter(tenant=tenant).update(bucket="")
    with pytest.raises(CommandError, match="has no bucket"):
        call_command("ingest_trail", "--tenant", "acme", "--since", "2026-09-14")


# --- tenants apart ---------------------------------------------------------------------------
def test_an_outsider_tenants_queue_and_role_are_never_used_for_another(
    tenant, other_tenant, account, other_account, monkeypatch
):
    acme = make_trail(tenant, account="333333333333")
    globex = make_trail(other_tenant, account="444444444444")
    acme.cloudtrail_notice([acme.put(log_key(), log_bytes(RECORDS[:2]))])
    globex.cloudtrail_notice(
        [globex.put(log_key("999999999999", unique="g"), log_bytes(RECORDS[2:4]))]
    )

    from ingestion.trail import read_tenant

    read_tenant(tenant, session=acme.reader_session())
    assert [(a["RoleArn"], a["ExternalId"]) for a in acme.assumed] == [
        (acme.role_arn, tenant.external_id)
    ]
    assert ids(tenant) == event_ids(RECORDS[:2]) and not ids(other_tenant)
    assert globex.queue_counts() == (1, 0)  # the outsider's notice was not touched

    # The beat fan-out reads each tenant with its own role, ExternalId and queue.
    assumed: list[dict] = []
    import boto3

    real_session = boto3.session.Session

    def recording_session(*args, **kwargs):
        session = real_session(*args, **kwargs)
        session.events.register(
            "provide-client-params.sts.AssumeRole", lambda params, **kw: assumed.append(params)
        )
        return session

    monkeypatch.setattr("ingestion.trail.boto3.session.Session", recording_session)
    monkeypatch.setattr("ingestion.tasks.publish.enqueue", lambda task, args, **o: task(*args))
    assert tasks.read_all_trails() == 2
    assert sorted((a["RoleArn"], a["ExternalId"]) for a in assumed) == sorted(
        [(acme.role_arn, tenant.external_id), (globex.role_arn, other_tenant.external_id)]
    )
    assert ids(other_tenant) == event_ids(RECORDS[2:4])
    assert ids(tenant) == event_ids(RECORDS[:2])
    assert globex.queue_counts() == (0, 0)


def test_another_tenants_queue_cannot_be_configured(tenant, other_tenant):
    from django.core.exceptions import ValidationError

    acme = make_trail(tenant)
    source = TrailSource(tenant=other_tenant, queue_url=acme.queue_url, region="us-east-1")
    with pytest.raises(ValidationError, match="read for another tenant"):
        source.validate_constraints()


# --- beat --------------------------------------------------------------------------------------
def test_beat_reads_the_trails_at_the_interval_from_the_environment(db, settings):
    start_beat()
    task = PeriodicTask.objects.get(task="ingestion.tasks.read_all_trails")
    assert task.interval.every == settings.SGPORTAL_TRAIL_INTERVAL_S == 60
    assert task.expire_seconds == settings.SGPORTAL_TRAIL_INTERVAL_S


def test_the_task_skips_a_tenant_whose_reader_holds_the_lock(tenant):
    from ingestion.locks import tenant_trail_lock
    from ingestion.trail import SKIPPED, read_tenant_locked

    make_trail(tenant)
    with tenant_trail_lock(tenant.pk) as held:
        assert held
        assert read_tenant_locked(tenant.pk) == SKIPPED
    assert read_tenant_locked(tenant.pk).startswith("0 notices")


def test_without_once_it_keeps_reading(tenant, monkeypatch):
    trail = make_trail(tenant)
    trail.cloudtrail_notice([trail.put(log_key(), log_bytes(RECORDS[:1]))])
    passes = []

    class Stop(Exception):
        pass

    def pause(seconds):
        passes.append(seconds)
        if len(passes) == 1:  # a notice arriving between two passes is read by the next
            trail.cloudtrail_notice([trail.put(log_key(unique="later"), log_bytes(RECORDS[1:2]))])
            return
        raise Stop

    monkeypatch.setattr("ingestion.management.commands.ingest_trail.time.sleep", pause)
    # It would close the test's connection (it sits in the test's transaction).
    monkeypatch.setattr(
        "ingestion.management.commands.ingest_trail.close_old_connections", lambda: None
    )
    with pytest.raises(Stop):
        call_command("ingest_trail", "--tenant", "acme")
    assert passes == [1, 1]  # SGPORTAL_TRAIL_WAIT_S=0 in tests: a pause between passes
    assert ids(tenant) == event_ids(RECORDS[:2])


def test_a_read_role_found_assumable_without_the_external_id_is_refused(tenant):
    from ingestion.trail import read_tenant
    from sgportal.aws_roles import UnsafeRole
    from sgportal.models import RoleCheck, RoleCheckStatus

    trail = make_trail(tenant)
    trail.cloudtrail_notice([trail.put(log_key(), log_bytes(RECORDS[:1]))])
    RoleCheck.objects.create(
        tenant=tenant,
        role_arn=trail.role_arn,
        status=RoleCheckStatus.NOT_ENFORCED,
        detail="AssumeRole without the ExternalId succeeded.",
        checked_at=datetime(2026, 9, 14, tzinfo=UTC),
    )
    session = trail.reader_session()
    with pytest.raises(UnsafeRole):
        read_tenant(tenant, session=session)
    assert trail.assumed == []  # never even tried
    assert (
        "can be assumed without this tenant's" in TrailSource.objects.get(tenant=tenant).last_error
    )
    assert trail.queue_counts() == (1, 0) and not ids(tenant)
