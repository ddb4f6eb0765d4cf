"""Issue 9, findings 2, 3 and 9: memberships bind only to verified addresses, the grant form
tells nothing about who exists, and Slack identities come only from the signed link flow."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress

from sgportal.models import AuditAction, AuditEntry, Membership, SlackIdentity
from sgportal.tenancy import Role, has_role
from tests.factories import MembershipFactory, SlackIdentityFactory, UserFactory


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def grant(client, tenant, email, role=Role.VIEWER):
    return client.post(
        "/admin/sgportal/membership/add/",
        {"email": email, "tenant": tenant.pk, "role": role},
        follow=True,
    )


def answer_of(response, email) -> tuple:
    """What the granting admin sees, with the address they typed and row ids blanked out."""

    def blank(text: str) -> str:
        text = text.replace(email, "<EMAIL>")
        text = re.sub(r"/membership/\d+/", "/membership/<ID>/", text)
        text = re.sub(r'value="\d+"', 'value="<ID>"', text)
        return re.sub(r'csrfmiddlewaretoken" value="[^"]+"', "", text)

    messages = [blank(str(m)) for m in response.context["messages"]]
    return response.status_code, response.redirect_chain, messages, blank(response.content.decode())


def verified(user, email=None):
    return EmailAddress.objects.create(
        user=user, email=email or user.email, verified=True, primary=True
    )


def test_the_grant_form_answers_the_same_for_known_unknown_and_superuser_addresses(
    admin_client, tenant, outsider, superuser
):
    verified(outsider)
    verified(superuser)
    answers = []
    for email in (outsider.email, "nobody-here@example.net", superuser.email):
        answers.append(answer_of(grant(admin_client, tenant, email), email))
        # and the listing the admin lands on replaces each earlier grant's row with this one's
        Membership.objects.filter(tenant=tenant, user__isnull=True).delete()
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200 and "was added successfully" in answers[0][2][0]


def test_a_grant_to_another_tenants_admin_binds_only_when_they_sign_in(
    admin_client, client, tenant, outsider
):
    verified(outsider)
    grant(admin_client, tenant, outsider.email.upper(), Role.APPROVER)
    membership = Membership.objects.get(tenant=tenant, granted_email=outsider.email.upper())
    assert membership.user is None
    assert not has_role(outsider, tenant.pk, Role.VIEWER)
    client.force_login(outsider)  # sends user_logged_in, as every sign-in door does
    membership.refresh_from_db()
    assert membership.user_id == outsider.pk and has_role(outsider, tenant.pk, Role.APPROVER)
    bind = AuditEntry.objects.get(tenant=tenant, action=AuditAction.UPDATE)
    assert bind.actor_id == outsider.pk and bind.after["user_id"] == outsider.pk


def test_an_unverified_address_counts_for_nothing(client, tenant, viewer, outsider, other_tenant):
    """Finding 2: Acme's viewer adds Globex's admin's address to their own profile through
    allauth's email page; a membership Globex grants to that address must not land on them."""
    victim_email = outsider.email
    client.force_login(viewer)
    client.post("/accounts/email/", {"action_add": "", "email": victim_email})
    claimed = EmailAddress.objects.filter(user=viewer, email__iexact=victim_email).first()
    if claimed is not None:  # allauth may refuse an address in use; if it took it, unverified
        assert claimed.verified is False
        EmailAddress.objects.filter(pk=claimed.pk).update(primary=True)
    globex_admin = UserFactory(username="globex-admin-2", is_staff=True)
    MembershipFactory(user=globex_admin, tenant=other_tenant, role=Role.ADMIN)
    client.force_login(globex_admin)
    grant(client, other_tenant, victim_email, Role.ADMIN)
    client.force_login(viewer)
    assert not has_role(viewer, other_tenant.pk, Role.VIEWER)
    assert Membership.objects.get(tenant=other_tenant, role=Role.ADMIN, user__isnull=True)


def test_a_grant_where_the_person_already_has_a_role_is_withdrawn(
    admin_client, client, tenant, approver
):
    verified(approver)
    grant(admin_client, tenant, approver.email, Role.ADMIN)
    client.force_login(approver)
    assert Membership.objects.get(tenant=tenant, user=approver).role == Role.APPROVER
    assert not Membership.objects.filter(tenant=tenant, user__isnull=True).exists()
    withdrawn = AuditEntry.objects.get(tenant=tenant, action=AuditAction.DELETE)
    assert withdrawn.object_repr == f"{approver.email}: already a member"
    assert (withdrawn.before["role"], withdrawn.actor_id) == (Role.ADMIN, approver.pk)


def test_a_second_pending_grant_to_the_same_address_is_refused(admin_client, tenant):
    grant(admin_client, tenant, "someone@example.com")
    response = grant(admin_client, tenant, "SOMEONE@example.com", Role.ADMIN)
    assert b"already has a pending membership" in response.content
    assert Membership.objects.filter(tenant=tenant, user__isnull=True).count() == 1


def test_a_superuser_grant_binds_a_verified_person_at_once(client, superuser, tenant):
    person = UserFactory(username="direct-grant")
    verified(person)
    client.force_login(superuser)
    grant(client, tenant, person.email, Role.APPROVER)
    assert has_role(person, tenant.pk, Role.APPROVER)


def test_an_address_that_is_not_an_email_is_refused(admin_client, tenant):
    response = grant(admin_client, tenant, "bob-approver")
    assert b"Enter the person&#x27;s email address." in response.content
    assert not Membership.objects.filter(granted_email="bob-approver").exists()


# --- Slack identities (finding 3) ----------------------------------------------------


@pytest.mark.parametrize("who", ["admin_user", "superuser"])
def test_nobody_can_rebind_a_verified_slack_identity_in_admin(
    client, request, who, tenant, approver, outsider
):
    identity = SlackIdentityFactory(tenant=tenant, slack_user_id="UAPPROVER", user=approver)
    before = (identity.slack_user_id, identity.user_id, identity.verified_at)
    client.force_login(request.getfixturevalue(who))
    url = f"/admin/sgportal/slackidentity/{identity.pk}/change/"
    response = client.post(
        url,
        {
            "tenant": tenant.pk,
            "team_id": identity.team_id,
            "slack_user_id": "UATTACKER",
            "user": outsider.username,
        },
    )
    assert response.status_code == 403
    identity.refresh_from_db()
    assert (identity.slack_user_id, identity.user_id, identity.verified_at) == before
    assert client.get("/admin/sgportal/slackidentity/add/").status_code == 403


def test_an_admin_may_unlink_a_slack_identity_and_it_is_audited(admin_client, tenant, approver):
    identity = SlackIdentityFactory(tenant=tenant, slack_user_id="UAPPROVER", user=approver)
    response = admin_client.post(
        f"/admin/sgportal/slackidentity/{identity.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not SlackIdentity.objects.filter(pk=identity.pk).exists()
    entry = AuditEntry.objects.get(tenant=tenant, action=AuditAction.DELETE)
    assert entry.object_type == "sgportal.SlackIdentity"
