"""Per-request (or per-task) context: who is acting and under which request id.

Set by ``RequestIdMiddleware`` for web requests and by tasks for their own work; read by
the audit log so every entry is attributable without threading ``request`` everywhere.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("sgportal_request_id", default="")


def current_request_id() -> str:
    """The request id of the work in progress, or a fresh one for work outside a request."""
    return request_id_var.get() or f"sys-{uuid.uuid4().hex[:16]}"


def new_request_id() -> str:
    return uuid.uuid4().hex
