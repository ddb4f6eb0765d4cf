"""Security review of outbound webhooks: a tenant admin picks the URL, so its host may
resolve to an IPv6 address that *embeds* an internal IPv4 one. Python calls the NAT64
well-known prefix (64:ff9b::/96), the IPv4-translated (::ffff:0:0/96) and IPv4-compatible
(::/96) forms "global", but a NAT64 gateway (an AWS NAT gateway in an IPv6-only subnet,
say) carries 64:ff9b::a00:7 to 10.0.0.7: the embedded address is what must be public."""

from __future__ import annotations

import socket

import pytest

from approvals.webhooks import actions, outbound
from approvals.webhooks.models import EventType, Webhook

EMBEDDING_PRIVATE = [
    "64:ff9b::a00:7",  # NAT64 of 10.0.0.7
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (instance metadata)
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "::ffff:0:a00:7",  # IPv4-translated 10.0.0.7 (SIIT)
    "::127.0.0.1",  # IPv4-compatible loopback
]


def _resolve_to(monkeypatch, address: str) -> list:
    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]

    connected: list = []
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a))
    return connected


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE)
def test_an_ipv6_answer_embedding_a_private_ipv4_is_refused(monkeypatch, settings, address):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    connected = _resolve_to(monkeypatch, address)
    with pytest.raises(outbound.Refused, match="non-public address"):
        actions.send("https://hooks.example.com/hook", b"{}", {})
    assert connected == []


def test_a_nat64_address_of_a_public_ipv4_is_still_allowed(monkeypatch, settings):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    _resolve_to(monkeypatch, "64:ff9b::5db8:d822")  # 93.184.216.34
    assert actions.destination_error("https://hooks.example.com/hook") is None


def test_the_admin_form_refuses_it_and_an_outsider_cannot_add_one_for_us(
    client, monkeypatch, settings, tenant, admin_user, outsider
):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    _resolve_to(monkeypatch, "64:ff9b::a00:7")
    data = {
        "tenant": tenant.pk,
        "name": "siem",
        "url": "https://internal.example.com/h",
        "events": [EventType.values[0]],
    }
    client.force_login(outsider)
    response = client.post("/admin/webhooks/webhook/add/", data)
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    client.force_login(admin_user)
    response = client.post("/admin/webhooks/webhook/add/", data)
    assert response.status_code == 200 and b"non-public address" in response.content
    assert not Webhook.objects.exists()
