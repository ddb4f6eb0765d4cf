"""Signal receivers of the sgportal app: logins into the audit log, beat schedules after migrate."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from sgportal.audit import record_audit
from sgportal.models import AuditAction, Membership


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs) -> None:
    for tenant_id in Membership.objects.filter(user=user).values_list("tenant_id", flat=True):
        record_audit(
            tenant_id,
            AuditAction.LOGIN,
            actor=user,
            via="web",
            obj=user,
            object_repr=user.get_username(),
        )


@receiver(user_login_failed)
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    from django.contrib.auth import get_user_model

    username = str(credentials.get("username") or credentials.get("email") or "")[:150]
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return
    for tenant_id in Membership.objects.filter(user=user).values_list("tenant_id", flat=True):
        record_audit(
            tenant_id,
            AuditAction.LOGIN_FAILED,
            actor=username,
            via="web",
            object_type="auth.User",
            object_id=user.pk,
            object_repr=username,
        )


@receiver(post_migrate)
def ensure_schedules(sender, **kwargs) -> None:
    if sender.name == "sgportal":
        from sgportal.schedules import ensure_periodic_tasks

        ensure_periodic_tasks(using=kwargs.get("using", "default"))
