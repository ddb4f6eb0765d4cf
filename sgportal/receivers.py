"""Signal receivers of the sgportal app: logins into the audit log (people's accounts:
``sgportal.people``)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from sgportal.audit import record_audit
from sgportal.models import AuditAction, Membership


@receiver(user_logged_in, dispatch_uid="sgportal.audit_login")
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


@receiver(user_login_failed, dispatch_uid="sgportal.audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """One entry per failed password for a known account, in one chain: the tenant the user
    joined first. Attempts the login limiter refused unchecked are not audited (a locked-out
    brute force must not turn into audit writes); unknown names only reach the log."""
    from sgportal.auth import account_for_login

    if request is not None and getattr(request, "sgportal_login_refused", False):
        return
    typed = str(credentials.get("username") or credentials.get("email") or "")[:150]
    user = account_for_login(typed)
    if user is None:
        return
    tenant_id = (
        Membership.objects.filter(user=user).order_by("pk").values_list("tenant_id", flat=True)
    ).first()
    if tenant_id is None:
        return
    record_audit(
        tenant_id,
        AuditAction.LOGIN_FAILED,
        actor=typed,
        via="web",
        object_type="auth.User",
        object_id=user.pk,
        object_repr=user.get_username(),
    )
