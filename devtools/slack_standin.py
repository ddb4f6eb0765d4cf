"""A stand-in for Slack's Web API: a small threaded local HTTP server.

Point slack_sdk at it (``WebClient(base_url=standin.base_url)``, i.e. ``SLACK_API_URL``).
It answers ``chat.postMessage`` / ``chat.update`` / ``views.open`` (and anything else with
``{"ok": true}``),
records every call (method, parsed JSON or form body, bearer token), records posts to
``/response/...`` (stand-in response_url hooks), and can be told to fail the next calls:
HTTP 429 with Retry-After, or ``{"ok": false, "error": "invalid_auth"}``.

In tests::

    with SlackStandin() as slack:
        slack.fail_next("chat.postMessage", error="invalid_auth")
        ...
        slack.calls_to("chat.postMessage")

For ``make demo``::

    python -m devtools.slack_standin --port 8025 \
        --interactions-url http://127.0.0.1:8000/slack/interactions/   (SLACK_SIGNING_SECRET)

``GET /`` is the page showing the posted messages as Slack would, with working buttons
(devtools.slack_page) and any modal sgportal opened (``views.open``) with its text box and
submit button, which sends a signed ``view_submission``; ``GET /_calls`` lists the recorded
calls as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from devtools.slack_page import Workspace, click, render_page, submit


@dataclass
class Call:
    """One request the stand-in received."""

    method: str
    body: dict
    token: str
    at: float = field(default_factory=time.time)


@dataclass
class _Scripted:
    status: int
    body: dict
    headers: dict


class SlackStandin:
    """A local Slack Web API; ``base_url`` ends with ``/api/`` like Slack's."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        interactions_url: str = "",
        signing_secret: str = "",
        team_id: str = "T0DEMO0001",
    ):
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._script: dict[str, list[_Scripted]] = {}
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.workspace = Workspace(
            team_id=team_id,
            interactions_url=interactions_url,
            signing_secret=signing_secret,
            origin=self.origin,
        )

    # -- control --------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def origin(self) -> str:
        """For ``SLACK_RESPONSE_URL_HOSTS``: where its response_urls point."""
        return f"http://127.0.0.1:{self.port}"

    def response_url(self, name: str = "hook") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    @property
    def page_url(self) -> str:
        """The page showing the posted messages, with working buttons."""
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> SlackStandin:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlackStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def fail_next(
        self, method: str, *, error: str = "invalid_auth", times: int = 1, status: int = 200
    ) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        self._push(method, _Scripted(status, {"ok": False, "error": error}, {}), times)

    def rate_limit_next(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with Retry-After."""
        scripted = _Scripted(
            429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        )
        self._push(method, scripted, times)

    def _push(self, method: str, scripted: _Scripted, times: int) -> None:
        with self._lock:
            self._script.setdefault(method, []).extend([scripted] * times)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._script.clear()

    # -- serving --------------------------------------------------------------------
    def _answer(self, method: str, body: dict, token: str) -> _Scripted:
        with self._lock:
            self.calls.append(Call(method, body, token))
            queued = self._script.get(method)
            if queued:
                return queued.pop(0)
        if method == "chat.postMessage":
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            message = {"text": body.get("text", ""), "blocks": body.get("blocks", []), "ts": ts}
            self.workspace.posted(body, ts)
            return _Scripted(
                200, {"ok": True, "channel": body.get("channel"), "ts": ts, "message": message}, {}
            )
        if method == "chat.update":
            self.workspace.updated(body)
            return _Scripted(
                200,
                {"ok": True, "channel": body.get("channel"), "ts": body.get("ts"), "text": ""},
                {},
            )
        if method == "views.open":
            modal = self.workspace.opened(body)
            view = {**modal.view, "id": modal.id, "team_id": self.workspace.team_id}
            return _Scripted(200, {"ok": True, "view": view}, {})
        if method == "auth.test":
            # A token "xoxb-<TEAM>-…" belongs to workspace <TEAM>; others to TSTANDIN.
            parts = token.split("-")
            team = parts[1] if len(parts) > 2 and parts[1].startswith("T") else "TSTANDIN"
            return _Scripted(200, {"ok": True, "team_id": team, "user_id": "UBOT"}, {})
        return _Scripted(200, {"ok": True}, {})

    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # quiet
                return

            def _send(self, status: int, body: dict | list, headers: dict | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _send_html(self, status: int, text: str, headers: dict | None = None):
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _back_to_page(self):
                self.send_response(303)
                self.send_header("Location", "/")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/":
                    return self._send_html(200, render_page(standin.workspace))
                if path == "/_version":
                    return self._send(200, {"version": standin.workspace.version})
                if self.path.rstrip("/") == "/_calls":
                    with standin._lock:
                        calls = [c.__dict__ for c in standin.calls]
                    return self._send(200, calls)
                return self._send(404, {"ok": False, "error": "unknown_method"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                if "json" in content_type:
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError:
                        body = {"_raw": raw.decode("utf-8", "replace")}
                else:
                    body = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ").strip() or str(body.get("token", ""))
                if self.path.startswith("/response/"):
                    with standin._lock:
                        standin.calls.append(Call("response_url", body, token))
                    where = self.path[len("/response/") :].split("/")
                    if len(where) == 2:  # /response/<channel>/<ts>: a page click's note
                        standin.workspace.responded(where[0], where[1], body)
                    return self._send(200, {"ok": True})
                if self.path == "/_click":  # a button on the page: Slack's signed request
                    click(
                        standin.workspace,
                        str(body.get("channel", "")),
                        str(body.get("ts", "")),
                        str(body.get("action_id", "")),
                        str(body.get("user", "")),
                    )
                    return self._back_to_page()
                if self.path == "/_submit":  # a modal's submit: Slack's signed view_submission
                    values = {
                        key[len("input:") :]: value
                        for key, value in body.items()
                        if key.startswith("input:")
                    }
                    submit(standin.workspace, str(body.get("view_id", "")), values)
                    return self._back_to_page()
                if self.path == "/_close":  # a modal's Cancel: Slack tells the app nothing
                    standin.workspace.close_modal(str(body.get("view_id", "")))
                    return self._back_to_page()
                if not self.path.startswith("/api/"):
                    return self._send(404, {"ok": False, "error": "unknown_method"})
                method = self.path[len("/api/") :].split("?")[0]
                answer = standin._answer(method, body, token)
                return self._send(answer.status, answer.body, answer.headers)

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Slack Web API stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument(
        "--interactions-url", default="", help="where the page's buttons send their clicks"
    )
    parser.add_argument("--team", default="T0DEMO0001", help="the workspace's team id")
    args = parser.parse_args(argv)
    standin = SlackStandin(
        args.host,
        args.port,
        interactions_url=args.interactions_url,
        # The app's signing secret, from the environment as sgportal reads it.
        signing_secret=os.environ.get("SLACK_SIGNING_SECRET", ""),
        team_id=args.team,
    )
    print(
        f"Slack stand-in on http://{args.host}:{standin.port}/api/ "
        f"(page: http://{args.host}:{standin.port}/, GET /_calls)",
        flush=True,
    )
    try:
        standin._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        standin._server.server_close()


if __name__ == "__main__":
    main()
