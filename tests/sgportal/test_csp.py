"""A Content-Security-Policy on every page: nothing inline without the request's nonce,
nothing from elsewhere; the portal's own inline style carries the nonce."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/admin/", "/admin/login/", "/healthz"])
def test_every_page_has_a_strict_policy(client, admin_user, path):
    client.force_login(admin_user)
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert re.fullmatch(r"'self'( 'nonce-[A-Za-z0-9+/=_-]+')?", directives["script-src"])
    assert re.fullmatch(r"'self'( 'nonce-[A-Za-z0-9+/=_-]+')?", directives["style-src"])


def test_the_inline_stylesheet_carries_this_responses_nonce(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/")
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    page = response.content.decode()
    assert f'<style nonce="{nonce}">' in page
    assert " style=" not in page  # inline style attributes would be blocked
    assert client.get("/")["Content-Security-Policy"] != response["Content-Security-Policy"]
