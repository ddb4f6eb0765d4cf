"""JSONTextField: JSON kept as text in the database, Python objects in the application."""

from __future__ import annotations

import json
from pathlib import Path

from django.db import connection

from ingestion.models import SecurityGroupChange, Source
from ingestion.parser import parse_text
from ingestion.store import store_changes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"


def _stored_raw(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT raw FROM ingestion_securitygroupchange WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_a_dict_is_stored_as_json_text_and_read_back_as_a_dict(tenant):
    change = SecurityGroupChange.objects.create(
        tenant=tenant,
        event_id="e-1",
        source=Source.MANUAL,
        event_name="X",
        raw={"eventName": "X", "n": [1, 2]},
    )
    assert json.loads(_stored_raw(change.pk)) == {"eventName": "X", "n": [1, 2]}
    assert SecurityGroupChange.objects.get(pk=change.pk).raw == {"eventName": "X", "n": [1, 2]}


def test_a_records_text_is_stored_exactly_as_the_source_sent_it(tenant):
    text = (FIXTURES / "08_create_security_group_root.json").read_text()  # indented JSON
    (new_id,) = store_changes(tenant, [parse_text(text)], source=Source.LAKE).new_ids
    assert _stored_raw(new_id) == text
    assert SecurityGroupChange.objects.get(pk=new_id).raw["eventName"] == "CreateSecurityGroup"


def test_text_that_is_not_json_stays_visible_instead_of_failing(tenant):
    change = SecurityGroupChange.objects.create(
        tenant=tenant, event_id="e-3", source=Source.MANUAL, event_name="X", raw={}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ingestion_securitygroupchange SET raw = 'not json' WHERE id = %s", [change.pk]
        )
    assert SecurityGroupChange.objects.get(pk=change.pk).raw == {"unparsed_text": "not json"}
