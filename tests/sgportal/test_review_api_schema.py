"""Security review of the API's public pages (/api/v1/schema/, /api/v1/docs/): public, so
they must not be a door that checks passwords. They took DRF's default authentication
(session and HTTP Basic): any visitor could try a username and password there and read the
answer (a 403 for a wrong password, the page for a right one), and a username with a NUL
byte made the login limiter's lookup fail with a 500."""

from __future__ import annotations

import base64

import pytest

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test password)


def _basic(username: str, password: str) -> dict:
    text = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {text}"}


@pytest.mark.parametrize("url", ["/api/v1/schema/", "/api/v1/docs/"])
def test_the_public_api_pages_check_no_password_and_never_fail_on_one(
    client, settings, url, admin_user, outsider
):
    settings.SGPORTAL_PASSWORD_LOGIN = True
    for person in (admin_user, outsider):
        person.set_password(PASSWORD)
        person.save()
    client.raise_request_exception = False
    anonymous = client.get(url)
    assert anonymous.status_code == 200
    for person in (admin_user, outsider):
        right = client.get(url, headers=_basic(person.username, PASSWORD))
        wrong = client.get(url, headers=_basic(person.username, "guess"))
        # The same page whatever the password: no oracle, no session.
        assert right.status_code == wrong.status_code == 200
        if url.endswith("schema/"):
            assert right.content == wrong.content == anonymous.content
        else:  # the page carries a per-request nonce: the same page, byte for byte apart
            assert len(right.content) == len(wrong.content) == len(anonymous.content)
        assert "sessionid" not in right.cookies
    nul = client.get(url, headers=_basic("admin\x00", "guess"))
    assert nul.status_code == 200  # was a 500
