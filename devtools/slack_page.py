"""The Slack stand-in's page: the posted messages as Slack shows them, with working buttons.

Dev-only (``make demo`` and tests). ``devtools.slack_standin`` keeps what sgportal posted
(chat.postMessage, chat.update, thread replies, response_url notes) in a :class:`Workspace`
and serves :func:`render_page` at ``/``. A click on Approve / Deny becomes what Slack
itself would send to the app's interactivity URL: a ``block_actions`` payload, form-encoded
as ``payload=<json>``, signed with the app's signing secret (v0 HMAC-SHA256 over
``v0:<timestamp>:<body>``), see :func:`click`.

A modal sgportal opens (``views.open``, e.g. the deny-reason form) is kept as a
:class:`Modal` for the clicking user and shown over the page with its text box and submit
button; submitting sends the signed ``view_submission`` Slack would send, and sgportal's
``response_action`` (clear, errors, update) is applied to it, see :func:`submit`.

Block Kit rendered: header, section (text and fields), context, divider, actions (buttons,
with the confirm dialog of a button that has one), and in a modal, plain_text_input.
mrkdwn: *bold*, _italic_, ~strike~, `code`, ```code blocks```, <url|links>,
<!date^…|fallback>, a few emoji, Slack's &amp; &lt; &gt; escaping — and everything is
HTML-escaped, so a message cannot inject markup.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlencode

EMOJI = {
    "white_check_mark": "✅",
    "no_entry": "⛔",
    "x": "❌",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "alarm_clock": "⏰",
    "test_tube": "🧪",
    "leftwards_arrow_with_hook": "↩️",
    "rotating_light": "🚨",
    "red_circle": "🔴",
    "large_orange_circle": "🟠",
    "large_blue_circle": "🔵",
    "warning": "⚠️",
    "lock": "🔒",
    "bell": "🔔",
    "mag": "🔍",
    "information_source": "ℹ️",
    "shield": "🛡️",
    "memo": "📝",
    "bar_chart": "📊",
    "clipboard": "📋",
}


@dataclass
class User:
    """Who clicks on the page (a Slack user of the workspace)."""

    id: str
    username: str
    name: str = ""


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list
    thread_ts: str = ""
    edited: int = 0  # how many chat.update calls changed it
    replies: list[Message] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # response_url notes ("only visible to you")


@dataclass
class Modal:
    """A view sgportal opened with ``views.open``, for the user whose click gave the trigger."""

    id: str
    user_id: str
    view: dict
    errors: dict = field(default_factory=dict)  # block id -> message, from response_action


@dataclass
class Workspace:
    """What the stand-in's page shows and clicks as: one team, its users, the messages."""

    team_id: str = "T0DEMO0001"
    team_domain: str = "sgportal-demo"
    users: list[User] = field(
        default_factory=lambda: [
            User("U0DEMOREV1", "reviewer", "Demo Reviewer"),
            User("U0DEMONEW1", "newcomer", "Not linked yet"),
        ]
    )
    interactions_url: str = ""  # sgportal's /slack/interactions/
    signing_secret: str = ""
    origin: str = ""  # the stand-in's own http://host:port, for response_urls
    messages: list[Message] = field(default_factory=list)
    modals: list[Modal] = field(default_factory=list)  # open, oldest first
    triggers: dict[str, str] = field(default_factory=dict)  # trigger_id -> the clicking user
    last_click: str = ""
    version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _find(self, channel: str, ts: str) -> Message | None:
        for message in self.messages:
            if message.channel == channel and message.ts == ts:
                return message
            for reply in message.replies:
                if reply.channel == channel and reply.ts == ts:
                    return reply
        return None

    def posted(self, body: dict, ts: str) -> None:
        """chat.postMessage: a new message, or a reply in a thread."""
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):  # form-encoded calls send JSON text
            blocks = _json_list(blocks)
        message = Message(
            channel=str(body.get("channel", "")),
            ts=ts,
            text=str(body.get("text", "")),
            blocks=blocks,
            thread_ts=str(body.get("thread_ts") or ""),
        )
        with self.lock:
            parent = message.thread_ts and self._find(message.channel, message.thread_ts)
            if parent:
                parent.replies.append(message)
            else:
                self.messages.append(message)
            self.version += 1

    def updated(self, body: dict) -> bool:
        """chat.update: the message's new text and blocks (False when there is none)."""
        with self.lock:
            message = self._find(str(body.get("channel", "")), str(body.get("ts", "")))
            if message is None:
                return False
            if "text" in body:
                message.text = str(body["text"])
            if "blocks" in body:
                blocks = body["blocks"]
                message.blocks = _json_list(blocks) if isinstance(blocks, str) else blocks
            message.edited += 1
            self.version += 1
            return True

    def responded(self, channel: str, ts: str, body: dict) -> None:
        """A post to a click's response_url: an ephemeral note under the message."""
        with self.lock:
            message = self._find(channel, ts)
            text = str(body.get("text", ""))
            if message is not None and text:
                message.notes.append(text)
                self.version += 1

    def user(self, user_id: str) -> User:
        return next((u for u in self.users if u.id == user_id), self.users[0])

    def new_trigger(self, user: User) -> str:
        """A trigger_id for a click by ``user`` (views.open then opens the modal for them)."""
        with self.lock:
            trigger = f"{int(time.time())}.{next(self._ts)}.{self.team_id}.demo"
            self.triggers[trigger] = user.id
            return trigger

    def opened(self, body: dict) -> Modal:
        """views.open: the view becomes a modal for the user whose click gave the trigger."""
        view = body.get("view") or {}
        if isinstance(view, str):  # form-encoded calls send JSON text
            try:
                view = json.loads(view)
            except ValueError:
                view = {}
        with self.lock:
            user_id = self.triggers.pop(str(body.get("trigger_id", "")), self.users[0].id)
            modal = Modal(id=f"V{next(self._ts):09d}", user_id=user_id, view=dict(view))
            self.modals.append(modal)
            self.version += 1
            return modal

    def modal(self, view_id: str) -> Modal | None:
        return next((m for m in self.modals if m.id == view_id), None)

    def close_modal(self, view_id: str) -> None:
        with self.lock:
            self.modals = [m for m in self.modals if m.id != view_id]
            self.version += 1


def _json_list(text: str) -> list:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


# -- clicks ----------------------------------------------------------------------------------
def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _sender(workspace: Workspace, user: User) -> dict:
    """Who sends an interaction, as every Slack interaction payload names them."""
    return {
        "user": {
            "id": user.id,
            "username": user.username,
            "name": user.username,
            "team_id": workspace.team_id,
        },
        "api_app_id": "A0DEMOAPP1",
        "token": "legacy-verification-token-unused",
    }


def _send(workspace: Workspace, payload: dict) -> tuple[int, str]:
    """POST a signed interaction to sgportal: (HTTP status, body); status 0 if unreachable."""
    request = signed_request(workspace.signing_secret, workspace.interactions_url, payload)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except OSError as exc:
        return 0, str(exc)


def block_actions_payload(
    workspace: Workspace, message: Message, action: dict, block_id: str, user: User
) -> dict:
    """The ``block_actions`` payload Slack sends when ``user`` clicks ``action``."""
    now = f"{time.time():.6f}"
    return {
        "type": "block_actions",
        **_sender(workspace, user),
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        },
        "trigger_id": workspace.new_trigger(user),
        "team": {"id": workspace.team_id, "domain": workspace.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": message.channel.lower()},
        "message": {
            "type": "message",
            "ts": message.ts,
            "text": message.text,
            "blocks": message.blocks,
        },
        "state": {"values": {}},
        "response_url": f"{workspace.origin}/response/{message.channel}/{message.ts}",
        "actions": [
            {
                "type": "button",
                "action_id": action.get("action_id", ""),
                "block_id": block_id,
                "text": action.get("text", {}),
                "value": action.get("value", ""),
                "style": action.get("style", ""),
                "action_ts": now,
            }
        ],
    }


def signed_request(secret: str, url: str, payload: dict) -> urllib.request.Request:
    """The HTTP request Slack makes: form-encoded ``payload=``, with its signature headers."""
    body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
    timestamp = str(int(time.time()))
    return urllib.request.Request(  # noqa: S310 (the configured interactivity URL)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(secret, timestamp, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots) sgportal-standin",
        },
    )


def click(workspace: Workspace, channel: str, ts: str, action_id: str, user_id: str) -> str:
    """Send the signed interaction for a button of a message; returns what happened (also
    kept as ``workspace.last_click`` for the page)."""
    with workspace.lock:
        message = workspace._find(channel, ts)
        found = _find_button(message.blocks, action_id) if message else None
    if message is None or found is None:
        outcome = f"No button {action_id!r} on message {ts} (the message changed?)."
    elif not workspace.interactions_url or not workspace.signing_secret:
        outcome = "Not sent: the stand-in has no interactivity URL or signing secret."
    else:
        button, block_id = found
        user = workspace.user(user_id)
        payload = block_actions_payload(workspace, message, button, block_id, user)
        status, answer = _send(workspace, payload)
        label = _plain(button.get("text", {}))
        outcome = f"{user.username} clicked {label!r}: sgportal answered {status} {answer[:300]}"
    with workspace.lock:
        workspace.last_click = outcome
        workspace.version += 1
    return outcome


def view_submission_payload(workspace: Workspace, modal: Modal, values: dict) -> dict:
    """The ``view_submission`` Slack sends when the modal's submit is pressed; ``values``
    maps each input's block id to what was typed."""
    user = workspace.user(modal.user_id)
    state: dict = {}
    for block in modal.view.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "input":
            element = block.get("element") or {}
            block_id = str(block.get("block_id", ""))
            state[block_id] = {
                str(element.get("action_id", "")): {
                    "type": element.get("type", "plain_text_input"),
                    "value": values.get(block_id, ""),
                }
            }
    return {
        "type": "view_submission",
        "team": {"id": workspace.team_id, "domain": workspace.team_domain},
        **_sender(workspace, user),
        "trigger_id": workspace.new_trigger(user),
        "view": {
            **{k: v for k, v in modal.view.items() if k != "blocks"},
            "id": modal.id,
            "team_id": workspace.team_id,
            "blocks": modal.view.get("blocks") or [],
            "state": {"values": state},
            "hash": f"{int(time.time())}.{modal.id}",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def submit(workspace: Workspace, view_id: str, values: dict) -> str:
    """Send the signed ``view_submission`` for an open modal and apply sgportal's answer:
    ``clear`` (or an empty 200) closes it, ``errors`` shows them under the inputs, ``update``
    replaces it. Returns what happened (also ``workspace.last_click``)."""
    with workspace.lock:
        modal = workspace.modal(view_id)
    if modal is None:
        outcome = f"No open modal {view_id!r}."
    elif not workspace.interactions_url or not workspace.signing_secret:
        outcome = "Not sent: the stand-in has no interactivity URL or signing secret."
    else:
        payload = view_submission_payload(workspace, modal, values)
        status, answer = _send(workspace, payload)
        _apply_response(workspace, modal, status, answer)
        title = _plain(modal.view.get("title", {}))
        user = workspace.user(modal.user_id).username
        outcome = f"{user} submitted {title!r}: sgportal answered {status} {answer[:300]}"
    with workspace.lock:
        workspace.last_click = outcome
        workspace.version += 1
    return outcome


def _apply_response(workspace: Workspace, modal: Modal, status: int, answer: str) -> None:
    """What Slack does with the app's answer to a view_submission."""
    if status != 200:
        modal.errors = {"": f"sgportal answered {status}: the form stays open."}
        return
    try:
        body = json.loads(answer) if answer.strip() else {}
    except ValueError:
        body = {}
    action = body.get("response_action") if isinstance(body, dict) else None
    with workspace.lock:
        if action == "errors" and isinstance(body.get("errors"), dict):
            modal.errors = {str(k): str(v) for k, v in body["errors"].items()}
        elif action == "update" and isinstance(body.get("view"), dict):
            modal.view, modal.errors = dict(body["view"]), {}
        else:  # "clear", or an empty 200: Slack closes the modal
            workspace.modals = [m for m in workspace.modals if m.id != modal.id]


def _find_button(blocks: list, action_id: str) -> tuple[dict, str] | None:
    for block in blocks or []:
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element, str(block.get("block_id", ""))
    return None


# -- rendering -------------------------------------------------------------------------------
_ANGLE = re.compile(r"<([^<>]*)>")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")


def _unslack(text: str) -> str:
    """Slack's own escaping undone (it is the same three entities as HTML's)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _inline(text: str) -> str:
    """Literal mrkdwn text (no <…> tokens) to HTML: escaped first, then formatting."""
    out = html.escape(_unslack(text), quote=False)
    out = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", out)
    out = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", out)
    out = re.sub(r"(?<![\w~])~([^~\n]+)~(?![\w~])", r"<s>\1</s>", out)
    out = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), out)
    return out.replace("\n", "<br>")


def _token(inner: str) -> str:
    """An angle-bracket token: a link, a date, a mention."""
    if inner.startswith("!date^"):
        fallback = inner.split("|", 1)[1] if "|" in inner else inner
        return f'<time class="date">{html.escape(_unslack(fallback))}</time>'
    if inner.startswith(("!", "@", "#")):
        label = inner.split("|", 1)[1] if "|" in inner else inner[1:]
        return f'<span class="mention">@{html.escape(_unslack(label))}</span>'
    url, _, label = inner.partition("|")
    url = _unslack(url)
    if not url.startswith(("http://", "https://", "mailto:")):
        return html.escape(_unslack(inner))
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="noopener">'
        f"{html.escape(_unslack(label or url))}</a>"
    )


def mrkdwn(text: str) -> str:
    """Slack mrkdwn to safe HTML."""
    parts = []
    # ```blocks``` and `code` spans first: nothing inside them is formatted.
    for index, chunk in enumerate(re.split(r"```(.*?)```", text or "", flags=re.S)):
        if index % 2:
            parts.append(f"<pre>{html.escape(_unslack(chunk.strip(chr(10))))}</pre>")
            continue
        for j, piece in enumerate(chunk.split("`")):
            if j % 2:
                parts.append(f"<code>{html.escape(_unslack(piece))}</code>")
                continue
            last = 0
            for found in _ANGLE.finditer(piece):
                parts.append(_inline(piece[last : found.start()]))
                parts.append(_token(found.group(1)))
                last = found.end()
            parts.append(_inline(piece[last:]))
    return "".join(parts)


def _plain(obj: dict | str) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


def _text(obj: dict) -> str:
    """A text object (plain_text or mrkdwn) to HTML."""
    if not isinstance(obj, dict):
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")))
    out = html.escape(str(obj.get("text", "")), quote=False)
    if obj.get("emoji", True):
        out = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), out)
    return out


def _button(message: Message, element: dict, users: list[User]) -> str:
    style = element.get("style", "")
    action_id = str(element.get("action_id", ""))
    label = _text(element.get("text", {}))
    fields = (
        f'<input type="hidden" name="channel" value="{html.escape(message.channel)}">'
        f'<input type="hidden" name="ts" value="{html.escape(message.ts)}">'
        f'<input type="hidden" name="action_id" value="{html.escape(action_id)}">'
        '<input type="hidden" name="user" class="as-user" value="">'
    )
    css = f"btn {html.escape(style)}".strip()
    if element.get("url"):
        return f'<a class="{css}" href="{html.escape(element["url"])}">{label}</a>'
    confirm = element.get("confirm")
    if not isinstance(confirm, dict):
        return (
            f'<form method="post" action="/_click" class="inline">{fields}'
            f'<button type="submit" class="{css}" data-action="{html.escape(action_id)}">'
            f"{label}</button></form>"
        )
    # Slack asks first: the confirm dialog, its title, text and two buttons.
    title = _text(confirm.get("title", {})) or "Are you sure?"
    body = _text(confirm.get("text", {}))
    yes = _text(confirm.get("confirm", {})) or "Yes"
    no = _text(confirm.get("deny", {})) or "Cancel"
    dialog_id = f"confirm-{html.escape(message.ts).replace('.', '-')}-{html.escape(action_id)}"
    return (
        f'<button type="button" class="{css}" data-action="{html.escape(action_id)}" '
        f'data-dialog="{dialog_id}">{label}</button>'
        f'<dialog id="{dialog_id}" class="confirm"><form method="post" action="/_click">'
        f'{fields}<h3>{title}</h3><p>{body}</p><div class="dialog-buttons">'
        f'<button type="button" class="btn cancel" value="cancel">{no}</button>'
        f'<button type="submit" class="btn {html.escape(confirm.get("style", style) or "primary")}"'
        f' data-confirm="{html.escape(action_id)}">{yes}</button></div></form></dialog>'
    )


def render_blocks(message: Message, users: list[User]) -> str:
    """A message's blocks (or its text when it has none) as Slack lays them out."""
    if not message.blocks:
        return f'<div class="block text">{mrkdwn(message.text)}</div>'
    out = []
    for block in message.blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "header":
            out.append(f'<div class="block header">{_text(block.get("text", {}))}</div>')
        elif kind == "section":
            inner = ""
            if block.get("text"):
                inner += f'<div class="section-text">{_text(block["text"])}</div>'
            if block.get("fields"):
                cells = "".join(f'<div class="field">{_text(f)}</div>' for f in block["fields"])
                inner += f'<div class="fields">{cells}</div>'
            out.append(f'<div class="block section">{inner}</div>')
        elif kind == "context":
            items = "".join(
                f"<span>{_text(e)}</span>"
                for e in block.get("elements") or []
                if isinstance(e, dict) and e.get("type") != "image"
            )
            out.append(f'<div class="block context">{items}</div>')
        elif kind == "divider":
            out.append('<hr class="block divider">')
        elif kind == "actions":
            buttons = "".join(
                _button(message, e, users)
                for e in block.get("elements") or []
                if isinstance(e, dict) and e.get("type") == "button"
            )
            out.append(f'<div class="block actions">{buttons}</div>')
        else:
            out.append(f'<div class="block unknown">[{html.escape(str(kind))} block]</div>')
    return "".join(out)


def _modal_html(modal: Modal) -> str:
    """An open modal as Slack shows it: title, blocks, text inputs, Cancel and submit."""
    view = modal.view
    parts = []
    for block in view.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") != "input":
            parts.append(render_blocks(Message("", "", "", [block]), []))
            continue
        element = block.get("element") or {}
        block_id = html.escape(str(block.get("block_id", "")))
        label = _text(block.get("label", {}))
        placeholder = html.escape(_plain(element.get("placeholder", {})))
        limit = element.get("max_length")
        maxlength = f' maxlength="{int(limit)}"' if isinstance(limit, int) else ""
        required = "" if block.get("optional") else " required"
        box = (
            f'<textarea name="input:{block_id}" rows="4" placeholder="{placeholder}"'
            f"{maxlength}{required}></textarea>"
            if element.get("multiline")
            else f'<input type="text" name="input:{block_id}" placeholder="{placeholder}"'
            f"{maxlength}{required}>"
        )
        error = modal.errors.get(str(block.get("block_id", "")))
        error_html = f'<div class="field-error">{html.escape(error)}</div>' if error else ""
        parts.append(
            f'<label class="block input" data-block="{block_id}"><b>{label}</b>'
            f"{box}{error_html}</label>"
        )
    general = modal.errors.get("")
    if general:
        parts.append(f'<div class="field-error">{html.escape(general)}</div>')
    view_id = html.escape(modal.id)
    hidden = f'<input type="hidden" name="view_id" value="{view_id}">'
    close = _text(view.get("close", {})) or "Close"
    submit_button = (
        f'<button type="submit" class="btn primary" data-submit="{view_id}">'
        f"{_text(view['submit'])}</button>"
        if isinstance(view.get("submit"), dict)
        else ""
    )
    who = html.escape(modal.user_id)
    return (
        f'<dialog class="modal" id="modal-{view_id}" data-view="{view_id}" data-user="{who}">'
        f'<form method="post" action="/_submit">{hidden}'
        f"<h3>{_text(view.get('title', {}))}</h3>{''.join(parts)}"
        '<div class="dialog-buttons">'
        f'<button type="submit" class="btn cancel" formaction="/_close" formnovalidate>'
        f"{close}</button>{submit_button}</div></form></dialog>"
    )


def _when(ts: str) -> str:
    try:
        return time.strftime("%H:%M:%S", time.localtime(float(ts)))
    except ValueError:
        return ts


def _message_html(message: Message, users: list[User], reply: bool = False) -> str:
    edited = ' <span class="edited">(edited)</span>' if message.edited else ""
    notes = "".join(
        f'<div class="ephemeral"><span class="only-you">Only visible to you</span>'
        f"{mrkdwn(note)}</div>"
        for note in message.notes
    )
    replies = ""
    if message.replies:
        replies = (
            f'<div class="thread"><div class="thread-count">{len(message.replies)} '
            f"{'reply' if len(message.replies) == 1 else 'replies'}</div>"
            + "".join(_message_html(r, users, reply=True) for r in message.replies)
            + "</div>"
        )
    kind = "message reply" if reply else "message"
    return (
        f'<article class="{kind}" data-ts="{html.escape(message.ts)}">'
        '<div class="avatar" aria-hidden="true">sg</div><div class="body">'
        f'<div class="meta"><b>sgportal</b> <span class="app">APP</span> '
        f'<span class="time">{_when(message.ts)}</span>{edited}</div>'
        f"{render_blocks(message, users)}{notes}{replies}</div></article>"
    )


PAGE_CSS = """
body{margin:0;font:15px/1.46 -apple-system,"Segoe UI",Lato,Helvetica,Arial,sans-serif;
 color:#1d1c1d;display:flex;min-height:100vh}
nav{width:220px;background:#3f0e40;color:#cfc3cf;padding:12px 0;flex:none;
 position:sticky;top:0;height:100vh;box-sizing:border-box}
nav h1{color:#fff;font-size:18px;margin:0 16px 12px}
nav .channel{padding:4px 16px}nav .channel.on{background:#1164a3;color:#fff}
nav .hint{font-size:12px;padding:12px 16px;color:#bcabbc;overflow-wrap:anywhere}
main{flex:1;display:flex;flex-direction:column;min-width:0}
header.bar{border-bottom:1px solid #ddd;padding:10px 20px;display:flex;gap:16px;
 align-items:center;flex-wrap:wrap}
header.bar h2{margin:0;font-size:18px}
.status{font-size:13px;color:#616061;padding:6px 20px;background:#f8f8f8;
 border-bottom:1px solid #eee;word-break:break-word}
.feed{padding:8px 0 40px}
.message{display:flex;gap:10px;padding:8px 20px}.message:hover{background:#f8f8f8}
.avatar{width:36px;height:36px;border-radius:6px;background:#2eb67d;color:#fff;
 font-weight:700;display:flex;align-items:center;justify-content:center;flex:none}
.body{min-width:0;flex:1}
.meta .app{font-size:10px;background:#e8e8e8;color:#616061;padding:1px 3px;border-radius:2px}
.meta .time,.edited{color:#616061;font-size:12px}
.block{margin:4px 0;max-width:680px}
.header{font-size:18px;font-weight:900;margin:6px 0}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:6px 16px;margin-top:4px}
.context{color:#616061;font-size:13px;display:flex;gap:8px;flex-wrap:wrap}
.divider{border:0;border-top:1px solid #ddd}
code{background:#f6f6f6;border:1px solid #e1e1e1;border-radius:3px;padding:0 3px;
 color:#e01e5a;font-size:12px;word-break:break-all}
pre{background:#f6f6f6;border:1px solid #e1e1e1;padding:8px;white-space:pre-wrap}
a{color:#1264a3}
.actions{display:flex;gap:8px;margin-top:8px}
form.inline{display:inline}
.btn{font:inherit;font-weight:700;font-size:14px;padding:3px 12px;min-height:32px;
 border-radius:4px;border:1px solid #bbb;background:#fff;color:#1d1c1d;cursor:pointer}
.btn.primary{background:#007a5a;border-color:#007a5a;color:#fff}
.btn.danger{background:#fff;border-color:#e01e5a;color:#e01e5a}
dialog.confirm .btn.danger{background:#e01e5a;color:#fff}
dialog.confirm{border:0;border-radius:8px;box-shadow:0 4px 24px rgba(0,0,0,.3);
 max-width:480px;padding:20px 24px}
dialog.confirm h3{margin:0 0 8px}
.dialog-buttons{display:flex;justify-content:flex-end;gap:8px;margin-top:16px}
.ephemeral{background:#f4ede4;border-left:4px solid #e8912d;padding:6px 10px;margin:6px 0;
 max-width:680px;font-size:14px}
.only-you{display:block;font-size:12px;color:#616061}
.thread{border-left:3px solid #e8e8e8;margin:6px 0 0;padding-left:4px}
.thread-count{color:#1264a3;font-size:13px;font-weight:700;padding-left:20px}
.reply{padding:4px 16px}
.empty{padding:40px 20px;color:#616061}
dialog.modal{border:0;border-radius:8px;box-shadow:0 4px 24px rgba(0,0,0,.3);
 width:520px;max-width:90vw;padding:20px 24px}
dialog.modal h3{margin:0 0 12px;font-size:20px}
dialog.modal .input{display:block;margin:12px 0}
dialog.modal textarea,dialog.modal input[type=text]{display:block;width:100%;
 box-sizing:border-box;margin-top:6px;font:inherit;padding:8px;border:1px solid #bbb;
 border-radius:4px}
.field-error{color:#e01e5a;font-size:13px;margin-top:4px}
"""

PAGE_JS = """
// A modal sgportal opened (views.open) shows at once, like Slack's.
const modal = document.querySelector('dialog.modal');
if (modal) {
  modal.showModal();
  // Esc is Cancel: the stand-in forgets the modal too (else the next reload reopens it).
  modal.addEventListener('cancel', e => {
    e.preventDefault();
    modal.querySelector('.cancel').click();
  });
}
let seen = document.body.dataset.version;
const who = document.getElementById('as-user');
for (const input of document.querySelectorAll('.as-user')) input.value = who.value;
who.addEventListener('change', () => {
  for (const input of document.querySelectorAll('.as-user')) input.value = who.value;
  localStorage.setItem('standin-user', who.value);
});
const saved = localStorage.getItem('standin-user');
if (saved && [...who.options].some(o => o.value === saved)) { who.value = saved;
  for (const input of document.querySelectorAll('.as-user')) input.value = saved; }
for (const button of document.querySelectorAll('button[data-dialog]')) {
  const dialog = document.getElementById(button.dataset.dialog);
  button.addEventListener('click', () => dialog.showModal());
}
for (const cancel of document.querySelectorAll('dialog.confirm .cancel')) {
  cancel.addEventListener('click', () => cancel.closest('dialog').close());
}
// Like Slack: newest at the bottom, scrolled there at first; a reload keeps the place.
const place = sessionStorage.getItem('standin-scroll');
window.scrollTo(0, place === null ? document.body.scrollHeight : Number(place));
addEventListener('beforeunload', () => sessionStorage.setItem('standin-scroll', scrollY));
setInterval(async () => {
  if (document.querySelector('dialog[open]')) return;
  try {
    const answer = await fetch('/_version', {cache: 'no-store'});
    const now = String((await answer.json()).version);
    if (now !== seen) location.reload();
  } catch (e) {}
}, 1000);
"""


MAX_SHOWN = 200  # a demo left running for hours: the page shows the latest messages


def render_page(workspace: Workspace) -> str:
    """The whole page: the channels, their messages (newest last), who clicks."""
    with workspace.lock:
        messages = list(workspace.messages[-MAX_SHOWN:])
        version, last_click = workspace.version, workspace.last_click
        feed = "".join(_message_html(m, workspace.users) for m in messages)
        modal = _modal_html(workspace.modals[-1]) if workspace.modals else ""
    channels = sorted({m.channel for m in messages}) or ["(none yet)"]
    channel_list = "".join(f'<div class="channel on"># {html.escape(c)}</div>' for c in channels)
    options = "".join(
        f'<option value="{html.escape(u.id)}">{html.escape(u.username)} ({html.escape(u.id)})'
        f"{' — ' + html.escape(u.name) if u.name else ''}</option>"
        for u in workspace.users
    )
    target = html.escape(workspace.interactions_url or "not set")
    if not feed:
        feed = (
            '<p class="empty">No messages yet. sgportal posts here when a change needs a '
            "decision (the demo's trickle makes one every few seconds).</p>"
        )
    status = f'<div class="status" id="last-click">{html.escape(last_click)}</div>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Slack stand-in · sgportal demo</title><style>{PAGE_CSS}</style></head>
<body data-version="{version}">
<nav><h1>{html.escape(workspace.team_domain)}</h1>{channel_list}
<p class="hint">Slack stand-in (dev only): buttons send signed <code>block_actions</code>
requests to {target}</p></nav>
<main><header class="bar"><h2>Messages from sgportal</h2>
<label>Clicking as <select id="as-user">{options}</select></label></header>
{status if last_click else ""}
<div class="feed">{feed}</div></main>{modal}
<script>{PAGE_JS}</script></body></html>"""
