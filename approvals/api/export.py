"""NDJSON export of changes for bulk backfill: one row at a time from a server-side cursor,
so memory stays flat whatever the table holds (docs/api.md, "Export")."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from django.db import models
from django.http import StreamingHttpResponse

from approvals.api import ocsf as ocsf_mapping
from approvals.api.feeds import INGESTED
from approvals.api.serializers import ChangeSerializer
from sgportal.api.pagination import encode_cursor

CHUNK_SIZE = 2000  # rows fetched per round trip from the server-side cursor


def _lines(rows: Iterator, ocsf: bool) -> Iterator[bytes]:
    serializer = ChangeSerializer()
    for row in rows:
        data = ocsf_mapping.change_to_ocsf(row) if ocsf else serializer.to_representation(row)
        yield orjson.dumps(data) + b"\n"


def export_response(queryset: models.QuerySet, after: list | None, *, ocsf: bool):
    """Stream ``queryset``'s rows after ``after`` in ingestion order, up to the last row the
    feed may hand out now (fixed first, so the export ends where X-Next-Cursor says)."""
    feed_rows = INGESTED.apply(queryset, after)
    position = list(INGESTED.position)
    last = feed_rows.reverse().values_list(*position).first()
    if last is None:
        rows = queryset.none()
        next_cursor = encode_cursor(INGESTED, after or [0] * len(position))
    else:
        rows = feed_rows.filter(
            models.Q(ingest_txid__lt=last[0]) | models.Q(ingest_txid=last[0], id__lte=last[1])
        )
        next_cursor = encode_cursor(INGESTED, list(last))
    response = StreamingHttpResponse(
        _lines(rows.iterator(chunk_size=CHUNK_SIZE), ocsf),
        content_type="application/x-ndjson",
    )
    response["X-Next-Cursor"] = next_cursor
    response["Cache-Control"] = "no-store"
    return response
