"""deploy/slack-app-manifest.yaml grants a scope for every Slack Web API method the code calls
(read from the code's AST, so a new method without a manifest update fails here), and points
interactivity at the URL the code serves."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from django.urls import resolve

from approvals.slack import views as slack_views

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yaml").read_text())
DOC = (ROOT / "docs" / "slack.md").read_text()

# Web API method -> the bot scope it needs (None: no scope), as Slack documents each method.
SCOPE_OF = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.delete": "chat:write",
    "conversations.info": "channels:read",
    "conversations.join": "channels:join",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "views.open": None,
    "reactions.add": "reactions:write",
}


def method_name(attr: str) -> str:
    """slack_sdk's WebClient method (chat_postMessage) -> the Web API method (chat.postMessage)."""
    family, _, rest = attr.partition("_")
    return f"{family}.{rest}"


def web_api_methods(folder: Path) -> set[str]:
    """Every WebClient method referenced in ``folder``: ``<client>.chat_postMessage`` (called,
    or passed to a helper that calls it)."""
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.split("_", 1)[0] in {m.split(".")[0] for m in SCOPE_OF}
                and "_" in node.attr
                and isinstance(node.value, ast.Attribute | ast.Name)
                and "client" in ast.unparse(node.value)
            ):
                found.add(method_name(node.attr))
    return found


CODE_METHODS = web_api_methods(ROOT / "approvals")


def test_the_scan_finds_the_methods_the_transport_calls():
    assert {"auth.test", "chat.postMessage", "chat.update"} <= CODE_METHODS


def test_the_scan_catches_a_new_method(tmp_path):
    (tmp_path / "t.py").write_text("def f(self):\n    self.client.users_info(user='U1')\n")
    assert web_api_methods(tmp_path) == {"users.info"}


def test_every_method_the_code_calls_has_its_scope_in_the_manifest():
    unknown = CODE_METHODS - set(SCOPE_OF)
    assert not unknown, f"add these methods and their scopes to SCOPE_OF: {sorted(unknown)}"
    granted = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    needed = {SCOPE_OF[m] for m in CODE_METHODS} - {None}
    assert needed <= granted, f"the manifest lacks {sorted(needed - granted)}"
    assert granted <= needed, f"the manifest grants unused scopes {sorted(granted - needed)}"
    assert "user" not in MANIFEST["oauth_config"]["scopes"]


def test_the_doc_lists_every_method_and_scope():
    for method in CODE_METHODS:
        assert f"`{method}`" in DOC, method
    for scope in MANIFEST["oauth_config"]["scopes"]["bot"]:
        assert f"`{scope}`" in DOC, scope


def test_interactivity_points_at_the_signed_endpoint():
    interactivity = MANIFEST["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    url = interactivity["request_url"]
    assert url.startswith("https://")
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    assert path == "/slack/interactions/"
    assert resolve(path).func is slack_views.interactions
    assert "https://<host>/slack/interactions/" in DOC
