"""Linking a Slack user to a portal user: signed, one-time, while logged in, audited."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from approvals.models import Decision
from sgportal.models import AuditAction, AuditEntry, SlackIdentity
from tests.approvals.conftest import click, click_payload, form_body, post_signed


def link_url_from_click(client, message, user="U0BOB0001") -> str:
    text = click(client, message.action_token, user=user).json()["text"]
    url = re.search(r"<(https://sgportal\.example\.com(/slack/link/[^|>]+))\|", text)
    assert url, text
    return url.group(2)


@pytest.fixture
def link_path(client, message):
    return link_url_from_click(client, message)


def test_it_links_after_a_confirmation_and_then_the_click_counts(
    client, approver, message, link_path
):
    client.force_login(approver)
    page = client.get(link_path)
    assert page.status_code == 200
    assert b"U0BOB0001" in page.content and b"bob-approver" in page.content
    assert b"@bob" in page.content  # the Slack username from the click
    assert not SlackIdentity.objects.exists()  # GET only shows the confirmation
    response = client.post(link_path)
    assert response.status_code == 200 and b"Done" in response.content
    identity = SlackIdentity.objects.get()
    assert (identity.user, identity.team_id, identity.slack_user_id) == (
        approver,
        "TACME0001",
        "U0BOB0001",
    )
    assert identity.verified_at is not None and identity.linked_via == "signed_link"
    entry = AuditEntry.objects.get(action=AuditAction.SLACK_LINK)
    assert entry.actor_id == approver.pk and entry.before is None
    client.logout()
    assert click(client, message.action_token).json()["outcome"] == "decided"
    assert Decision.objects.get().user == approver


def test_it_requires_login(client, message, link_path):
    response = client.post(link_path)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(link_path).status_code == 302
    assert not SlackIdentity.objects.exists()


def test_a_link_works_once(client, approver, viewer, link_path):
    client.force_login(approver)
    assert client.post(link_path).status_code == 200
    client.force_login(viewer)
    again = client.post(link_path)
    assert again.status_code == 400 and b"already been used" in again.content
    assert SlackIdentity.objects.get().user == approver
    assert AuditEntry.objects.filter(action=AuditAction.SLACK_LINK).count() == 1


def test_an_expired_link_is_refused(client, approver, message):
    with time_machine.travel(dt.datetime(2026, 9, 14, 9, 0, tzinfo=dt.UTC), tick=False):
        path = link_url_from_click(client, message)
    client.force_login(approver)
    with time_machine.travel(dt.datetime(2026, 9, 14, 9, 16, tzinfo=dt.UTC), tick=False):
        response = client.post(path)
    assert response.status_code == 400 and b"expired" in response.content
    assert not SlackIdentity.objects.exists()


def test_a_link_within_fifteen_minutes_works(client, approver, message):
    with time_machine.travel(dt.datetime(2026, 9, 14, 9, 0, tzinfo=dt.UTC), tick=False):
        path = link_url_from_click(client, message)
    client.force_login(approver)
    with time_machine.travel(dt.datetime(2026, 9, 14, 9, 14, tzinfo=dt.UTC), tick=False):
        assert client.post(path).status_code == 200
    assert SlackIdentity.objects.exists()


def test_the_outsider_cannot_use_a_link_of_another_tenant(client, outsider, link_path):
    client.force_login(outsider)
    assert client.get(link_path).status_code == 400
    response = client.post(link_path)
    assert response.status_code == 400 and b"not a member" in response.content
    assert not SlackIdentity.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.SLACK_LINK).exists()


def test_a_tampered_link_is_refused(client, approver, link_path):
    client.force_login(approver)
    token = link_path.rstrip("/").rsplit("/", 1)[1]
    forged = token.replace("U0BOB0001", "U0EVE0001") if "U0BOB0001" in token else token[:-2] + "xx"
    response = client.post(f"/slack/link/{forged}/")
    assert response.status_code == 400
    assert not SlackIdentity.objects.exists()


def test_a_matching_email_alone_does_not_link(client, approver, message):
    """A Slack user whose e-mail matches a portal user is still unlinked until confirmed."""
    payload = click_payload(message.action_token, user="U0BOBEMAIL")
    payload["user"]["email"] = approver.email
    payload["user"]["username"] = approver.username
    response = post_signed(client, form_body(payload))
    assert "not linked" in response.json()["text"]
    assert not SlackIdentity.objects.exists()
    assert not Decision.objects.exists()
