"""Per-request context: the request id and the signed-in user, for code without ``request``.

``RequestIdMiddleware`` sets the request id (the audit log stores it; outside a request an
entry gets a fresh ``sys-`` id) and ``CurrentUserMiddleware`` the signed-in user (read by
receivers such as the password-change audit). Tasks and commands set neither.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str] = ContextVar("sgportal_request_id", default="")
# The signed-in user of the request in progress (None outside a request or when anonymous).
actor_var: ContextVar[Any] = ContextVar("sgportal_actor", default=None)


def current_request_id() -> str:
    """The request id of the work in progress, or a fresh one for work outside a request."""
    return request_id_var.get() or f"sys-{uuid.uuid4().hex[:16]}"


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_actor() -> Any:
    """The signed-in user of the request in progress, or None (a task, a command)."""
    lazy = actor_var.get()
    return lazy.resolve() if lazy is not None else None


class CurrentUserMiddleware:
    """Make the signed-in user known to code that has no ``request`` (audit receivers).
    Sits after AuthenticationMiddleware; reads ``request.user`` only when asked."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = actor_var.set(_LazyUser(request))
        try:
            return self.get_response(request)
        finally:
            actor_var.reset(token)


class _LazyUser:
    """Resolves ``request.user`` on first use, so requests that never audit never load it."""

    def __init__(self, request):
        self._request = request

    def resolve(self) -> Any:
        user = getattr(self._request, "user", None)
        return user if getattr(user, "is_authenticated", False) else None
