"""Keyset cursors over a stable position, so a client pulling while rows keep arriving gets
every row exactly once (see docs/api.md, "Exactly once").

A feed orders rows by ``position`` (a tuple of columns, unique per row) and, when it has a
``horizon``, hands out only rows the horizon says can no longer be preceded by a row still
being written. The cursor is the position of the last row handed out, opaque to clients
(base64 of JSON). A page always returns ``next_cursor``: the same cursor again when the
page was empty, so repeating it is safe and a client simply keeps polling with it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from django.db import connection, models
from django.db.models.expressions import RawSQL
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from sgportal import db
from sgportal.api.schema import cursor_format

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class InvalidCursor(exceptions.ValidationError):
    default_code = "invalid_cursor"


def pg_oldest_running_xid() -> RawSQL:
    """The oldest transaction still running when the statement started (PostgreSQL): every
    transaction with a smaller id has committed or aborted, so no row of theirs can appear
    later. Rows written by it or later ones wait for it to end."""
    return RawSQL("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", ())


def pg_own_xid() -> RawSQL:
    """The reading transaction's own id, if it wrote anything (its rows are its own to see:
    only a transaction that reads what it wrote itself, as a test does, meets this)."""
    return RawSQL("COALESCE(pg_current_xact_id_if_assigned()::text::bigint, 0)", ())


@dataclass(frozen=True)
class Feed:
    """A stable order of a queryset's rows and which of them may be handed out yet."""

    name: str
    position: tuple[str, ...]
    param: str = "cursor"
    # Column compared with pg_oldest_running_xid() on PostgreSQL (elsewhere writers are
    # serialized, so committed rows never appear behind the cursor).
    txid_column: str | None = None
    extra_filter: dict = field(default_factory=dict)

    def apply(self, queryset: models.QuerySet, after: list | None) -> models.QuerySet:
        queryset = queryset.filter(**self.extra_filter)
        if self.txid_column and db.is_postgresql():
            queryset = queryset.filter(
                models.Q(**{f"{self.txid_column}__lt": pg_oldest_running_xid()})
                | models.Q(**{self.txid_column: pg_own_xid()})
            )
        if after is not None:
            queryset = _after(queryset, self.position, after)
        return queryset.order_by(*self.position)


def _after(queryset: models.QuerySet, position: tuple[str, ...], values: list):
    """Rows strictly after ``values`` in ``position`` order, as a row comparison the
    (tenant, *position) index can range-scan: (a, b) > (x, y)."""
    model = queryset.model
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(
        f"{table}.{connection.ops.quote_name(model._meta.get_field(name).column)}"
        for name in position
    )
    placeholders = ", ".join(["%s"] * len(values))
    # Only the model's own table and column names go into the SQL text; values are parameters.
    return queryset.extra(where=[f"({columns}) > ({placeholders})"], params=values)  # noqa: S610


def encode_cursor(feed: Feed, values: list) -> str:
    raw = json.dumps({"f": feed.name, "p": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(feed: Feed, text: str) -> list | None:
    """The position in ``text``, None for the start ("" or "0"); InvalidCursor otherwise."""
    if text in ("", "0"):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        values = data["p"]
        ok = data["f"] == feed.name and isinstance(values, list)
        ok = ok and len(values) == len(feed.position)
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        ok = False
    if not ok:
        raise InvalidCursor({feed.param: ["Not a cursor this list handed out."]})
    return values


class FeedPagination(BasePagination):
    """``?cursor=…&page_size=N`` (N up to 1,000) over the view's ``get_feed(request)``."""

    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.feed: Feed = view.get_feed(request)
        self.cursor_text = request.query_params.get(self.feed.param, "")
        after = decode_cursor(self.feed, self.cursor_text)
        self.page_size = self._page_size(request)
        rows = list(self.feed.apply(queryset, after)[: self.page_size + 1])
        self.has_more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if rows:
            last = rows[-1]
            values = [getattr(last, name) for name in self.feed.position]
            self.next_cursor = encode_cursor(self.feed, values)
        else:
            self.next_cursor = self.cursor_text or encode_cursor(
                self.feed, [0] * len(self.feed.position)
            )
        return rows

    def _page_size(self, request) -> int:
        text = request.query_params.get(self.page_size_query_param)
        if text is None:
            return DEFAULT_PAGE_SIZE
        try:
            size = int(text)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise exceptions.ValidationError(
                {"page_size": [f"A whole number from 1 to {MAX_PAGE_SIZE}."]}
            )
        return size

    def get_paginated_response(self, data) -> Response:
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.feed.param, self.next_cursor)
        return Response(
            {
                "next_cursor": self.next_cursor,
                "has_more": self.has_more,
                "next": url,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["next_cursor", "has_more", "next", "results"],
            "properties": {
                "next_cursor": {
                    "type": "string",
                    "description": "Pass as the cursor to get the rows after this page; "
                    "repeat it safely while the page is empty.",
                },
                "has_more": {"type": "boolean"},
                "next": {"type": "string", "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": "cursor",
                "required": False,
                "in": "query",
                "description": "next_cursor of the previous page; empty: from the start.",
                "schema": {"type": "string", "format": cursor_format(view.feed.name)},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {MAX_PAGE_SIZE} (default "
                f"{DEFAULT_PAGE_SIZE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
        ]
