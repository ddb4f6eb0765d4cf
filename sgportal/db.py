"""The one place that knows which database runs: PostgreSQL in production and tests,
SQLite for development. Callers ask here instead of comparing ``connection.vendor``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import DatabaseError, connection


def is_postgresql() -> bool:
    """Whether the default connection is PostgreSQL (else SQLite, one writer at a time)."""
    return connection.vendor == "postgresql"


@contextlib.contextmanager
def try_advisory_lock(key: int) -> Iterator[bool]:
    """A session-level advisory lock on PostgreSQL: yields whether it was taken (released on
    exit). Elsewhere there is nothing to lock against and it yields True."""
    if not is_postgresql():
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        got = cursor.fetchone()[0]
    if not got:
        yield False
        return
    try:
        yield True
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


@contextlib.contextmanager
def lock_timeout(value: str) -> Iterator[None]:
    """On PostgreSQL, wait at most ``value`` (e.g. ``"2s"``) for a row lock in the block;
    the connection's default comes back afterwards. A no-op elsewhere."""
    if not is_postgresql():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [value])
    try:
        yield
    finally:  # the connection outlives the request: leave its default in place
        # A connection too broken to RESET is discarded by Django at the request's end.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
