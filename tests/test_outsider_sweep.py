"""The outsider sweep (issue 9): every admin and every URL, tried by users of another tenant.

NetBox-style: instead of trusting each feature's own tests, walk what is *registered* —
every ModelAdmin on the admin site and every URL pattern — and try it as Globex's admin,
approver and viewer (all staff, so only scoping stands in the way) against an object of
Acme's. A new admin or URL that is not in the tables below fails the sweep until someone
says how it is scoped: that is the point.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from approvals.models import (
    Decision,
    PolicyException,
    PolicyRule,
    ReviewerGroup,
    SlackMessage,
    TenantPolicy,
)
from approvals.webhooks.actions import create_webhook
from approvals.webhooks.models import Webhook, WebhookDelivery
from ingestion.models import PollRun, SecurityGroupChange, TrailDeadLetter
from remediation.models import InventoryRule, RevertAttempt
from sgportal.admin import ScopedUserAdmin
from sgportal.admin_base import TenantScopedAdmin
from sgportal.api.tokens import create_token
from sgportal.audit import record_audit
from sgportal.models import (
    ApiToken,
    AuditAction,
    AuditEntry,
    AwsAccount,
    IdpGroupMapping,
    Membership,
    RoleCheck,
    SlackIdentity,
    Tenant,
)
from sgportal.tenancy import Role
from tests.approvals.factories import ChangeFactory, DecisionFactory, SlackMessageFactory
from tests.factories import MembershipFactory, SlackIdentityFactory, UserFactory

User = get_user_model()
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _change(acme):
    return ChangeFactory(account=acme["account"])


def _webhook(acme):
    return create_webhook(
        acme["tenant"],
        name=f"siem-{Webhook.objects.count()}",
        url="https://siem.example.com/hook",
        events=["change.created"],
        actor="sweep",
        via="cli",
    )[0]


# How to make one Acme object of each tenant-scoped model registered in admin.
BUILDERS = {
    Tenant: lambda acme: acme["tenant"],
    AwsAccount: lambda acme: acme["account"],
    RoleCheck: lambda acme: RoleCheck.objects.create(
        tenant=acme["tenant"],
        role_arn="arn:aws:iam::111111111111:role/R",
        status="enforced",
        checked_at=NOW,
    ),
    Membership: lambda acme: MembershipFactory(tenant=acme["tenant"], role=Role.APPROVER),
    IdpGroupMapping: lambda acme: IdpGroupMapping.objects.create(
        tenant=acme["tenant"], group="acme-reviewers", role=Role.APPROVER
    ),
    SlackIdentity: lambda acme: SlackIdentityFactory(tenant=acme["tenant"]),
    ApiToken: lambda acme: create_token(
        acme["tenant"], name="siem", scopes=["read"], actor="sweep", via="cli"
    )[0],
    AuditEntry: lambda acme: record_audit(
        acme["tenant"], AuditAction.UPDATE, actor="sweep", object_type="t", object_repr="acme"
    ),
    SecurityGroupChange: _change,
    PollRun: lambda acme: PollRun.objects.create(
        tenant=acme["tenant"], window_start=NOW, window_end=NOW, started_at=NOW
    ),
    TrailDeadLetter: lambda acme: TrailDeadLetter.objects.create(
        tenant=acme["tenant"], message_id="m-sweep", key="AWSLogs/x.json.gz", parked_at=NOW
    ),
    Decision: lambda acme: DecisionFactory(change=_change(acme)),
    SlackMessage: lambda acme: SlackMessageFactory(change=_change(acme)),
    RevertAttempt: lambda acme: RevertAttempt.objects.create(
        change=_change(acme), actor_name="sweep", started_at=NOW
    ),
    Webhook: _webhook,
    WebhookDelivery: lambda acme: WebhookDelivery.objects.create(
        webhook=_webhook(acme),
        event_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
        event_type="change.created",
        context={"change_id": _change(acme).pk},
        status="failed",
        last_error="HTTP 500",
    ),
    InventoryRule: lambda acme: InventoryRule.objects.create(
        tenant=acme["tenant"],
        account=acme["account"],
        region="eu-west-1",
        group_id="sg-0sweep",
        rule_id="sgr-0sweep",
        definition={},
        refreshed_at=NOW,
    ),
    # --- policies (issue 15) ---
    ReviewerGroup: lambda acme: ReviewerGroup.objects.create(tenant=acme["tenant"], name="sweep"),
    PolicyRule: lambda acme: PolicyRule.objects.create(
        tenant=acme["tenant"], name="sweep", match={"world": True}, action="auto_revert"
    ),
    PolicyException: lambda acme: PolicyException.objects.create(
        tenant=acme["tenant"], match={"group_ids": ["sg-0sweep"]}, reason="sweep", expires_at=NOW
    ),
    TenantPolicy: lambda acme: TenantPolicy.objects.get_or_create(tenant=acme["tenant"])[0],
}

# Third-party admins: kept out by Django's model permissions, which no tenant admin holds
# (users, and so their permissions, are superuser-only: ScopedUserAdmin).
PERMISSION_GUARDED = {
    "auth.Group",
    "sites.Site",
    "django_celery_beat.PeriodicTask",
    "django_celery_beat.ClockedSchedule",
    "django_celery_beat.CrontabSchedule",
    "django_celery_beat.SolarSchedule",
    "django_celery_beat.IntervalSchedule",
    "account.EmailAddress",
    "socialaccount.SocialApp",
    "socialaccount.SocialToken",
    "socialaccount.SocialAccount",
}


@pytest.fixture
def acme(tenant, account, admin_user):
    return {"tenant": tenant, "account": account, "admin": admin_user}


@pytest.fixture(params=[Role.ADMIN, Role.APPROVER, Role.VIEWER])
def globex_user(request, other_tenant):
    user = UserFactory(username=f"globex-{request.param}", is_staff=True)
    MembershipFactory(user=user, tenant=other_tenant, role=request.param)
    return user


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def test_every_registered_admin_is_scoped_or_permission_guarded():
    unknown = []
    for model, model_admin in registered():
        label = model._meta.label
        if isinstance(model_admin, TenantScopedAdmin):
            if model not in BUILDERS:
                unknown.append(f"{label}: tenant-scoped, but the sweep cannot build one")
        elif isinstance(model_admin, ScopedUserAdmin):
            continue
        elif label not in PERMISSION_GUARDED:
            unknown.append(f"{label}: neither TenantScopedAdmin nor listed as permission-guarded")
    assert not unknown, "Add to the sweep: " + "; ".join(unknown)


@pytest.mark.parametrize("model", [m for m, a in registered() if isinstance(a, TenantScopedAdmin)])
def test_an_outsider_can_neither_see_nor_touch_an_acme_object_in_admin(
    client, acme, globex_user, model
):
    obj = BUILDERS[model](acme)
    before = model_to_dict(obj)
    opts = model._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    client.force_login(globex_user)

    listing = client.get(base)
    assert listing.status_code in (200, 403)
    assert f"{base}{obj.pk}/change/".encode() not in listing.content
    for suffix in ("change/", "history/", "delete/"):
        assert client.get(f"{base}{obj.pk}/{suffix}").status_code in (302, 403, 404)
    client.post(f"{base}{obj.pk}/change/", {})
    client.post(f"{base}{obj.pk}/delete/", {"post": "yes"})
    client.post(base, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    still = model._default_manager.filter(pk=obj.pk).first()
    assert still is not None, f"{opts.label} deleted by an outsider"
    assert model_to_dict(still) == before, f"{opts.label} changed by an outsider"


@pytest.mark.parametrize("label", sorted(PERMISSION_GUARDED))
def test_third_party_admins_are_closed_to_tenant_admins(client, admin_user, label):
    app_label, model_name = label.split(".")
    client.force_login(admin_user)
    base = f"/admin/{app_label}/{model_name.lower()}/"
    assert client.get(base).status_code == 403
    assert client.get(f"{base}add/").status_code == 403


def test_a_tenant_admin_cannot_change_any_field_of_a_user(client, acme, approver, outsider):
    client.force_login(acme["admin"])
    for person in (approver, outsider, acme["admin"]):
        before = model_to_dict(User.objects.get(pk=person.pk))
        data = {
            field.name: "changed@example.com" if field.name == "email" else "x-changed"
            for field in User._meta.concrete_fields
            if field.editable and not field.primary_key
        }
        data.update({"is_superuser": "on", "is_staff": "on", "is_active": ""})
        for url in ("change/", "password/"):
            response = client.post(f"/admin/auth/user/{person.pk}/{url}", data)
            assert response.status_code == 403
        client.post(f"/admin/auth/user/{person.pk}/delete/", {"post": "yes"})
        assert model_to_dict(User.objects.get(pk=person.pk)) == before


# --- every URL pattern -----------------------------------------------------------------


def all_patterns(resolver=None, prefix="", namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            space = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from all_patterns(entry, route, space)
        elif isinstance(entry, URLPattern):
            yield route, f"{namespace}{entry.name}"


# Whole URL trees whose scoping is tested elsewhere, with the reason.
COVERED_TREES = {
    "admin/": "every registered ModelAdmin is swept above",
    "accounts/": "django-allauth: the signed-in person's own account pages, no tenant data",
}
# One entry per named route outside those trees: how an outsider is refused there.
URL_CHECKS = {}


def url_check(*names):
    def register(fn):
        for name in names:
            URL_CHECKS[name] = fn
        return fn

    return register


@url_check("healthz")
def _healthz(client, acme, change):
    body = client.get("/healthz").content
    assert acme["tenant"].slug.encode() not in body


@url_check("metrics")
def _metrics(client, acme, change):
    response = client.get("/metrics")  # no METRICS_TOKEN presented
    assert acme["tenant"].slug.encode() not in response.content


@url_check("approvals:queue", "approvals:change_list")
def _queue(client, acme, change):
    for url in ("/", "/changes/"):
        response = client.get(url)
        assert response.status_code == 200
        assert f"/changes/{change.pk}/".encode() not in response.content


@url_check("approvals:change_detail")
def _detail(client, acme, change):
    assert client.get(f"/changes/{change.pk}/").status_code == 404


@url_check("approvals:change_decide")
def _decide(client, acme, change):
    response = client.post(f"/changes/{change.pk}/decide/", {"verdict": "deny", "reason": "x"})
    assert response.status_code == 404
    assert not Decision.objects.filter(change=change).exists()


@url_check("approvals:change_allow")
def _allow(client, acme, change):
    response = client.post(f"/changes/{change.pk}/allow/", {"reason": "outsider"})
    assert response.status_code == 404
    assert not PolicyException.objects.filter(tenant=acme["tenant"]).exists()
    assert not Decision.objects.filter(change=change).exists()


@url_check("approvals:bulk_approve")
def _bulk_approve(client, acme, change):
    response = client.post("/changes/approve/", {"change": [change.pk], "reason": "mine"})
    assert response.status_code == 302
    assert not Decision.objects.filter(change=change).exists()


@url_check("approvals:change_status")
def _change_status(client, acme, change):
    assert client.get(f"/changes/{change.pk}/status/").status_code == 404


@url_check("approvals:change_undo")
def _change_undo(client, acme, change):
    SecurityGroupChange.objects.filter(pk=change.pk).update(status="reverted")
    response = client.post(f"/changes/{change.pk}/undo/", {"confirm": "yes"})
    assert response.status_code == 404
    assert not Decision.objects.filter(change=change).exists()
    SecurityGroupChange.objects.filter(pk=change.pk).update(status="pending")


@url_check("approvals:dashboard")
def _dashboard(client, acme, change):
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert acme["account"].name.encode() not in response.content
    assert change.actor_arn.encode() not in response.content
    assert f"/changes/{change.pk}/".encode() not in response.content


@url_check("approvals:audit")
def _audit_page(client, acme, change):
    record_audit(acme["tenant"], AuditAction.UPDATE, actor="x", object_repr="acme-audit-only")
    for url in ("/audit/", f"/audit/?tenant={acme['tenant'].pk}&verify=1"):
        response = client.get(url)
        assert response.status_code in (200, 403)
        assert b"acme-audit-only" not in response.content
        assert acme["tenant"].name.encode() not in response.content


@url_check("approvals:ingestion_status")
def _ingestion_status(client, acme, change):
    PollRun.objects.create(
        tenant=acme["tenant"],
        window_start=NOW,
        window_end=NOW,
        started_at=NOW,
        status="failed",
        error="acme-poll-error",
    )
    response = client.get("/ingestion/status/")
    assert response.status_code in (200, 403)
    assert b"acme-poll-error" not in response.content
    assert acme["tenant"].name.encode() not in response.content


@url_check("approvals:slack_link")
def _slack_link(client, acme, change):
    from approvals.slack.links import make_link_url

    url = make_link_url(acme["tenant"], acme["tenant"].slack_workspace.team_id, "UVICTIM01")
    path = url.split("://", 1)[1].split("/", 1)[1]
    client.get("/" + path)
    client.post("/" + path)
    assert not SlackIdentity.objects.filter(slack_user_id="UVICTIM01").exists()


@url_check("approvals:slack_interactions")
def _slack_interactions(client, acme, change):
    # Unsigned: refused before any lookup. Signed clicks across tenants are covered by
    # tests/approvals/test_slack_interactions.py (outsider / other-team tests).
    with override_settings(SLACK_SIGNING_SECRET="sweep-signing-secret"):
        response = client.post("/slack/interactions/", {"payload": "{}"})
    assert response.status_code == 401


@url_check("ingest_eventbridge")
def _ingest_eventbridge(client, acme, change):
    # Globex's own valid secret against Acme's URL: the same 401 as a wrong one, nothing stored.
    from ingestion.models import EventBridgeSource
    from ingestion.sources import rotate_eventbridge_secret
    from tests.ingestion.helpers import realworld

    globex = Tenant.objects.get(slug="globex")
    globex_secret = rotate_eventbridge_secret(globex, actor="sweep")
    rotate_eventbridge_secret(acme["tenant"], actor="sweep")
    EventBridgeSource.objects.update(enabled=True)
    before = SecurityGroupChange.objects.count()
    response = client.post(
        f"/ingest/eventbridge/{acme['tenant'].slug}/",
        realworld(17),
        content_type="application/json",
        headers={"X-SGPortal-Secret": globex_secret},
    )
    assert response.status_code == 401
    assert SecurityGroupChange.objects.count() == before


def _outsider_api(client, url, method="get", data=None):
    """The API with Globex's token (read + decide); the session alone is never enough."""
    globex = Tenant.objects.get(slug="globex")
    name = f"sweep-{ApiToken.objects.count()}"
    token = create_token(globex, name=name, scopes=["read", "decide"], actor="t", via="cli")[1]
    assert client.get(url).status_code == 401  # signed-in session, no token
    headers = {"Authorization": f"Bearer {token}"}
    if method == "get":
        return client.get(url, headers=headers)
    return client.post(url, data or {}, content_type="application/json", headers=headers)


@url_check("api-account-list", "api-account-detail")
def _api_accounts(client, acme, change):
    listing = _outsider_api(client, "/api/v1/accounts/")
    assert listing.status_code == 200 and b"111111111111" not in listing.content
    assert _outsider_api(client, f"/api/v1/accounts/{acme['account'].pk}/").status_code == 404


@url_check("api-audit-list", "api-audit-detail")
def _api_audit(client, acme, change):
    entry = record_audit(acme["tenant"], AuditAction.UPDATE, actor="x", object_repr="acme-only")
    listing = _outsider_api(client, "/api/v1/audit/")
    assert listing.status_code == 200 and b"acme-only" not in listing.content
    assert _outsider_api(client, f"/api/v1/audit/{entry.pk}/").status_code == 404


@url_check("api-poll-run-list", "api-poll-run-detail")
def _api_poll_runs(client, acme, change):
    run = BUILDERS[PollRun](acme)
    listing = _outsider_api(client, "/api/v1/poll-runs/")
    assert listing.status_code == 200 and listing.json()["results"] == []
    assert _outsider_api(client, f"/api/v1/poll-runs/{run.pk}/").status_code == 404


@url_check("api-source-list")
def _api_sources(client, acme, change):
    from ingestion.models import TrailSource

    TrailSource.objects.create(tenant=acme["tenant"], enabled=True, files_read=77)
    listing = _outsider_api(client, "/api/v1/sources/")
    assert listing.status_code == 200
    trail = {row["source"]: row for row in listing.json()}["trail"]
    assert trail["configured"] is False and trail["files_read"] is None


@url_check("api-change-list", "api-change-detail", "api-change-decision")
def _api_changes(client, acme, change):
    listing = _outsider_api(client, "/api/v1/changes/")
    assert listing.status_code == 200 and change.event_id.encode() not in listing.content
    assert _outsider_api(client, f"/api/v1/changes/{change.pk}/").status_code == 404
    decision = _outsider_api(
        client, f"/api/v1/changes/{change.pk}/decision/", "post", {"verdict": "deny"}
    )
    assert decision.status_code == 404
    assert not Decision.objects.filter(change=change).exists()


@url_check("api-change-export")
def _api_change_export(client, acme, change):
    response = _outsider_api(client, "/api/v1/changes/export/")
    assert response.status_code == 200
    assert change.event_id.encode() not in b"".join(response.streaming_content)


@url_check("api-schema", "api-docs")
def _api_docs(client, acme, change):
    for url in ("/api/v1/schema/", "/api/v1/docs/"):
        response = client.get(url)
        assert acme["tenant"].slug.encode() not in response.content


def test_every_url_pattern_is_in_the_sweep():
    missing = [
        f"{route} ({name})"
        for route, name in all_patterns()
        if not any(route.startswith(tree) for tree in COVERED_TREES) and name not in URL_CHECKS
    ]
    assert not missing, "Add to URL_CHECKS in the sweep: " + ", ".join(missing)


@pytest.mark.parametrize("name", sorted(URL_CHECKS))
def test_an_outsider_is_refused_at_every_url(client, acme, globex_user, name):
    change = ChangeFactory(account=acme["account"])
    client.force_login(globex_user)
    URL_CHECKS[name](client, acme, change)
    change.refresh_from_db()
    assert change.status == "pending"
