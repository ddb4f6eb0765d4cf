"""The Slack stand-in runs on its own (for `make demo`) and speaks slack_sdk's protocol."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_runs_as_a_module_and_records_calls():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.slack_standin", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Slack stand-in on" in proc.stdout.readline()
        client = WebClient(token="xoxb-demo", base_url=f"http://127.0.0.1:{port}/api/")
        for _ in range(50):
            try:
                posted = client.chat_postMessage(channel="CDEMO", text="hello")
                break
            except OSError:
                time.sleep(0.1)
        assert posted["ok"] and posted["channel"] == "CDEMO" and posted["ts"]
        updated = client.chat_update(channel="CDEMO", ts=posted["ts"], text="bye")
        assert updated["ts"] == posted["ts"]
        import json
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_calls") as response:  # noqa: S310
            calls = json.load(response)
        assert [c["method"] for c in calls] == ["chat.postMessage", "chat.update"]
        assert calls[0]["token"] == "xoxb-demo" and calls[0]["body"]["text"] == "hello"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_it_can_be_told_to_fail(slack):
    client = WebClient(token="xoxb-t", base_url=slack.base_url, retry_handlers=[])
    slack.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="x")
    assert info.value.response["error"] == "channel_not_found"
    slack.rate_limit_next("chat.postMessage", retry_after=3)
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers.get("Retry-After") == "3"
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert len(slack.calls_to("chat.postMessage")) == 3
