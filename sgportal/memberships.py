"""Granting memberships by email, and binding them to the person who proves that address.

A tenant admin grants a role to an email address. The grant names nobody yet: it binds, at
the next sign-in, to the person whose *verified* address it is (allauth's ``EmailAddress``
with ``verified=True``, or an identity provider's verified email claim stored the same way).
So the answer to a grant is the same whether or not anyone has that address (the admin
learns nothing about other customers' users), an unverified address a person typed into
their profile counts for nothing, and naming someone gives no power over their account.

A superuser, who sees every user anyway, may grant to an existing person directly.
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q

from sgportal.audit import record_audit, snapshot
from sgportal.auth import users_with_verified_email
from sgportal.models import AuditAction, Membership, MembershipSource, Tenant


def grant_membership(
    *, tenant: Tenant, email: str, role: str, actor: Any, via: str = "admin"
) -> Membership:
    """Grant ``role`` in ``tenant`` to whoever proves ``email``, audited. Raises
    ValidationError when the tenant already has a pending grant for that address."""
    email = email.strip()
    membership = Membership(tenant=tenant, role=role, granted_email=email)
    if getattr(actor, "is_superuser", False):
        people = list(users_with_verified_email(email).filter(is_active=True)[:2])
        if (
            len(people) == 1
            and not Membership.objects.filter(user=people[0], tenant=tenant).exists()
        ):
            membership.user = people[0]
    membership.validate_constraints()
    with transaction.atomic():
        membership.save()
        record_audit(
            tenant,
            AuditAction.CREATE,
            actor=actor,
            via=via,
            obj=membership,
            after=_granted(membership),
        )
    return membership


def bind_pending_memberships(user) -> list[Membership]:
    """Bind every pending grant to one of ``user``'s verified addresses, audited in its
    tenant. A grant in a tenant where the person already has a role is withdrawn instead:
    their existing role stands."""
    if not (user.is_active and user.pk):
        return []
    addresses = list(
        EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    )
    if not addresses:
        return []
    bound = []
    with transaction.atomic():
        pending = (
            Membership.objects.select_for_update()
            .filter(user__isnull=True)
            .filter(reduce(operator.or_, (Q(granted_email__iexact=a) for a in addresses)))
        )
        for membership in pending:
            before = _granted(membership)
            # A role held only through an identity-provider group gives way to the grant: a
            # role granted by hand must survive leaving the group (sgportal.sso).
            from_group = Membership.objects.filter(
                user=user, tenant_id=membership.tenant_id, source=MembershipSource.IDP_GROUP
            ).first()
            if from_group is not None:
                _delete_audited(from_group, user, f"{from_group}: replaced by a grant")
            if Membership.objects.filter(user=user, tenant_id=membership.tenant_id).exists():
                _delete_audited(membership, user, f"{membership.granted_email}: already a member")
                continue
            membership.user = user
            membership.save(update_fields=["user"])
            record_audit(
                membership.tenant_id,
                AuditAction.UPDATE,
                actor=user,
                via="web",
                obj=membership,
                before=before,
                after=_granted(membership),
            )
            bound.append(membership)
    return bound


def _delete_audited(membership: Membership, user, why: str) -> None:
    """Delete a membership while binding ``user``'s grants, with its state in the audit log."""
    state = _granted(membership)
    membership.delete()
    record_audit(
        membership.tenant_id,
        AuditAction.DELETE,
        actor=user,
        via="web",
        object_type=Membership._meta.label,
        object_id=state["id"],
        object_repr=why,
        before=state,
    )


def _granted(membership: Membership) -> dict:
    return snapshot(membership) | {"id": membership.pk}


def clean_grant_email(value: str) -> str:
    """The form-level check of a grant's address (shape only: existence is never told)."""
    value = (value or "").strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError("Enter the person's email address.") from None
    return value
