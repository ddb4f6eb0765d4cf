"""People's accounts: what happens to them is recorded, whoever does it, through any door.

A person's credentials and identity (password, email, username, active and staff flags)
belong to them and their identity provider; only a superuser changes them in admin, and a
tenant admin manages memberships only (see ``sgportal.memberships``). Every password change
— admin form, allauth's change and reset views, ``manage.py changepassword``, a shell — is
audited in the chain of every tenant the person belongs to, and logged. Membership grants
to a verified address bind when the person signs in or confirms it.
"""

from __future__ import annotations

import logging

from allauth.account.signals import email_confirmed
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver

from sgportal.audit import record_audit
from sgportal.context import current_actor
from sgportal.memberships import bind_pending_memberships
from sgportal.models import AuditAction, Membership

log = logging.getLogger(__name__)


@receiver(post_save, sender=get_user_model(), dispatch_uid="sgportal.audit_password_change")
def audit_password_change(sender, instance, created, **kwargs) -> None:
    """``AbstractBaseUser.save`` keeps the new raw password in ``_password`` until after the
    row is written: that is the one mark every password change leaves, whatever set it."""
    if created or getattr(instance, "_password", None) is None:
        return
    actor = current_actor()
    tenant_ids = list(Membership.objects.filter(user=instance).values_list("tenant_id", flat=True))
    log.warning(
        "password changed for user %s (id %s) by %s; audited in %d tenant(s)",
        instance.get_username(),
        instance.pk,
        actor.get_username() if actor is not None else "system",
        len(tenant_ids),
    )
    for tenant_id in tenant_ids:
        record_audit(
            tenant_id,
            AuditAction.PASSWORD_CHANGE,
            actor=actor,
            via="web" if actor is not None else "system",
            obj=instance,
            object_repr=instance.get_username(),
        )


@receiver(user_logged_in, dispatch_uid="sgportal.bind_memberships_at_login")
def bind_memberships_at_login(sender, request, user, **kwargs) -> None:
    bind_pending_memberships(user)


@receiver(email_confirmed, dispatch_uid="sgportal.bind_memberships_on_confirmation")
def bind_memberships_on_confirmation(sender, request, email_address, **kwargs) -> None:
    bind_pending_memberships(email_address.user)
