"""``?format=ocsf``: the same JSON envelope, OCSF objects inside (see docs/ocsf.md)."""

from __future__ import annotations

from rest_framework.renderers import JSONRenderer

OCSF_MEDIA_TYPE = "application/vnd.ocsf+json"


class OcsfRenderer(JSONRenderer):
    media_type = OCSF_MEDIA_TYPE
    format = "ocsf"


class NdjsonRenderer(JSONRenderer):
    """``/changes/export/``: the rows stream as NDJSON; this renderer only answers errors
    (one JSON line) and lets ``Accept: application/x-ndjson`` through negotiation."""

    media_type = "application/x-ndjson"
    format = "ndjson"
