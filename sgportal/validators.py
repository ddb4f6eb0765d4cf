"""Validators shared by the tenancy models and the apps that use their values."""

from __future__ import annotations

import re

# AWS's documented pattern for the EventDataStore parameter (ARN or id), 3-256 characters.
EVENT_DATA_STORE_PATTERN = re.compile(r"^[a-zA-Z0-9._/\-:]{3,256}$")
EVENT_DATA_STORE_ARN = re.compile(
    r"^arn:aws(?:-[a-z]+)*:cloudtrail:[a-z0-9-]+:\d{12}:eventdatastore/(?P<id>[^/:]+)$"
)
# What goes into a Lake query's FROM: the bare id (a UUID for every store AWS creates).
EVENT_DATA_STORE_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{2,127}$")


def event_data_store_id(value: str) -> str:
    """The bare event data store id from an ARN or id; ValueError if it is neither.

    The one check for this value, used when an admin saves a tenant and again before the id
    goes into SQL, so a value the admin accepted is never refused by the poller.
    """
    value = (value or "").strip()
    if EVENT_DATA_STORE_PATTERN.match(value):
        match = EVENT_DATA_STORE_ARN.match(value)
        store_id = match.group("id") if match else value
        if EVENT_DATA_STORE_ID.match(store_id):
            return store_id
    raise ValueError(f"{value[:80]!r} is not an event data store ARN or id.")
