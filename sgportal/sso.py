"""What a single sign-on does to a person's access, at every SSO sign-in.

1. The identity provider's *verified* email addresses are stored as verified allauth
   ``EmailAddress`` rows (unless another person already holds one verified), so pending
   membership grants to those addresses bind (``sgportal.memberships``).
2. Identity-provider group mappings (``IdpGroupMapping``, set by tenant admins) are applied:
   the person gets, in each tenant, the highest role any of their current groups maps to; a
   role that came from a group they have left is removed. Memberships granted by hand
   (``source=grant``) are never touched. Every change is audited in the tenant's chain.

Groups come from the OpenID Connect ``groups`` claim (userinfo, else the id_token) or the
SAML ``groups`` attribute (``sso_config.SAML_GROUP_ATTRIBUTES``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from allauth.account.models import EmailAddress
from allauth.account.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver

from sgportal.audit import record_audit, snapshot
from sgportal.memberships import bind_pending_memberships
from sgportal.models import AuditAction, IdpGroupMapping, Membership, MembershipSource
from sgportal.sso_config import SAML_GROUP_ATTRIBUTES
from sgportal.tenancy import ROLE_RANK

log = logging.getLogger(__name__)
VIA = "sso"


def _names(value) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        value = [value]
    return {str(v).strip() for v in value if str(v).strip()}


def groups_of(sociallogin) -> set[str]:
    """The group names the identity provider sent for this sign-in (empty when none)."""
    data = sociallogin.account.extra_data or {}
    if sociallogin.account.get_provider().id == "saml":
        for attribute in SAML_GROUP_ATTRIBUTES:
            if data.get(attribute):
                return _names(data[attribute])
        return set()
    for part in (data.get("userinfo") or {}, data.get("id_token") or {}):
        if "groups" in part:
            return _names(part["groups"])
    return set()


def store_verified_emails(user, addresses: Iterable[EmailAddress]) -> list[str]:
    """Record the provider's verified addresses as verified for ``user``; an address another
    person already holds verified is skipped (and logged). Returns the addresses stored."""
    stored = []
    for address in addresses:
        email = (address.email or "").strip()
        if not (address.verified and email):
            continue
        taken = EmailAddress.objects.filter(email__iexact=email, verified=True).exclude(user=user)
        if taken.exists():
            log.warning("SSO: %s is verified by another account; not added to %s", email, user)
            continue
        row = EmailAddress.objects.filter(user=user, email__iexact=email).first()
        if row is None:
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=False)
        elif not row.verified:
            row.verified = True
            row.save(update_fields=["verified"])
        stored.append(email)
    return stored


def _state(membership: Membership, groups: Iterable[str] = ()) -> dict:
    return snapshot(membership) | {"id": membership.pk, "idp_groups": sorted(groups)}


def apply_idp_group_mappings(user, groups: Iterable[str]) -> list[tuple[str, Membership]]:
    """Make ``user``'s group-granted memberships match ``groups``; audited. Returns the
    changes as (action, membership) pairs."""
    groups = set(groups)
    wanted: dict[int, tuple[str, set[str]]] = {}
    for mapping in IdpGroupMapping.objects.filter(group__in=groups) if groups else []:
        role, sources = wanted.get(mapping.tenant_id, (None, set()))
        sources = sources | {mapping.group}
        if role is None or ROLE_RANK[mapping.role] > ROLE_RANK[role]:
            role = mapping.role
        wanted[mapping.tenant_id] = (role, sources)
    changes: list[tuple[str, Membership]] = []
    with transaction.atomic():
        current = {
            m.tenant_id: m
            for m in Membership.objects.select_for_update()
            .filter(user=user)
            .select_related("tenant")
        }
        for tenant_id, (role, sources) in sorted(wanted.items()):
            membership = current.get(tenant_id)
            if membership is None:
                membership = Membership.objects.create(
                    user=user, tenant_id=tenant_id, role=role, source=MembershipSource.IDP_GROUP
                )
                record_audit(
                    tenant_id,
                    AuditAction.CREATE,
                    actor=user,
                    via=VIA,
                    obj=membership,
                    after=_state(membership, sources),
                )
                changes.append((AuditAction.CREATE, membership))
            elif membership.source == MembershipSource.IDP_GROUP and membership.role != role:
                before = _state(membership)
                membership.role = role
                membership.save(update_fields=["role"])
                record_audit(
                    tenant_id,
                    AuditAction.UPDATE,
                    actor=user,
                    via=VIA,
                    obj=membership,
                    before=before,
                    after=_state(membership, sources),
                )
                changes.append((AuditAction.UPDATE, membership))
        for tenant_id, membership in current.items():
            if membership.source != MembershipSource.IDP_GROUP or tenant_id in wanted:
                continue
            before, text = _state(membership), f"{membership} (left the IdP group)"
            membership.delete()
            record_audit(
                tenant_id,
                AuditAction.DELETE,
                actor=user,
                via=VIA,
                object_type=Membership._meta.label,
                object_id=before["id"],
                object_repr=text,
                before=before,
            )
            changes.append((AuditAction.DELETE, membership))
    return changes


def on_sso_login(user, sociallogin) -> None:
    """Everything an SSO sign-in does to access: verified addresses, grants, group roles."""
    store_verified_emails(user, sociallogin.email_addresses)
    bind_pending_memberships(user)
    apply_idp_group_mappings(user, groups_of(sociallogin))


@receiver(user_logged_in, dispatch_uid="sgportal.sso_login")
def sso_login_received(sender, request, user, sociallogin=None, **kwargs) -> None:
    if sociallogin is not None:
        on_sso_login(user, sociallogin)
