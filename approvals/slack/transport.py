"""The Slack channel: post a change's message, update it later.

One class per outbound channel (CONVENTIONS item 4): ``notify()`` and ``update()`` raise
``TransportError``; ``permanent=True`` means retrying cannot help (bad token, no channel),
``retry_after`` carries Slack's Retry-After on HTTP 429.
"""

from __future__ import annotations

import logging
import urllib.error

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from approvals.models import SlackMessage, SlackWorkspace
from approvals.slack.blocks import build_blocks, summary_text
from sgportal.models import Tenant

log = logging.getLogger(__name__)

# Errors that a retry cannot fix: the tenant's Slack settings are wrong or revoked.
PERMANENT_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "team_access_not_granted",
        "ekm_access_denied",
        "restricted_action",
    }
)


# Errors about this one message: no retry, but the tenant's settings are not to blame.
MESSAGE_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
    }
)


class TransportError(Exception):
    """A failed Slack call; ``permanent`` ones are not retried, and ``settings_broken``
    ones (bad token, channel gone) mean the tenant's Slack settings need fixing."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        settings_broken: bool = False,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.permanent = permanent or settings_broken
        self.settings_broken = settings_broken
        self.retry_after = retry_after


class SlackTransport:
    """Posts and updates the messages of one tenant's Slack channel."""

    timeout_s = 10

    def __init__(self, tenant: Tenant, *, timeout_s: float | None = None):
        self.tenant = tenant
        self.workspace = SlackWorkspace.of(tenant)
        self.client = WebClient(
            token=self.workspace.bot_token or None,
            base_url=settings.SLACK_API_URL,
            timeout=timeout_s or self.timeout_s,
            retry_handlers=[],  # retries are the Celery task's job, with backoff
        )

    @classmethod
    def workspace_of(cls, token: str) -> str:
        """The id of the Slack workspace ``token`` belongs to, as Slack's auth.test reports
        it: a workspace is never taken from what someone typed."""
        client = WebClient(
            token=token, base_url=settings.SLACK_API_URL, timeout=cls.timeout_s, retry_handlers=[]
        )
        return str(cls._call(client.auth_test)["team_id"])

    def notify(self, message: SlackMessage) -> tuple[str, str]:
        """Post the message about ``message.change``; return (channel, ts)."""
        response = self._call(
            self.client.chat_postMessage,
            channel=message.channel or self.workspace.channel_id,  # a rule's channel
            text=summary_text(message.change),
            blocks=build_blocks(message),
            unfurl_links=False,
        )
        return response["channel"], response["ts"]

    def update(self, message: SlackMessage) -> None:
        """Rewrite the posted message to show the change's current state."""
        self._call(
            self.client.chat_update,
            channel=message.channel,
            ts=message.ts,
            text=summary_text(message.change),
            blocks=build_blocks(message),
        )

    def post_text(self, channel: str, text: str, thread_ts: str = "") -> str:
        """Post a plain message (a reminder in a thread, an escalation, a digest); its ts."""
        kwargs = {"thread_ts": thread_ts} if thread_ts else {}
        response = self._call(
            self.client.chat_postMessage,
            channel=channel or self.workspace.channel_id,
            text=text,
            unfurl_links=False,
            **kwargs,
        )
        return str(response["ts"])

    def open_view(self, trigger_id: str, view: dict) -> str:
        """Open a modal for the user whose click gave ``trigger_id`` (valid 3 s); its id."""
        response = self._call(self.client.views_open, trigger_id=trigger_id, view=view)
        return str((response.get("view") or {}).get("id", ""))

    @staticmethod
    def _call(method, **kwargs):
        try:
            return method(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            error = str(response.get("error") or f"HTTP {response.status_code}")
            if response.status_code == 429 or error == "ratelimited":
                retry_after = _retry_after(response.headers)
                raise TransportError(
                    f"rate limited (retry after {retry_after}s)", retry_after=retry_after
                ) from exc
            if error in PERMANENT_ERRORS:
                raise TransportError(error, settings_broken=True) from exc
            if error in MESSAGE_ERRORS:
                raise TransportError(error, permanent=True) from exc
            raise TransportError(error) from exc
        except (SlackClientError, urllib.error.URLError, OSError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc


def _retry_after(headers) -> int:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(1, int(value if isinstance(value, str) else value[0]))
            except (TypeError, ValueError, IndexError):
                break
    return 1
