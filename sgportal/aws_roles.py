"""The AWS roles a tenant gives sgportal, made safe against the confused deputy.

Following AWS's guidance for third parties: sgportal generates each tenant's ExternalId
(``Tenant.external_id``: random, unique, never typed by a tenant), shows it with the trust
policy to paste, and passes it on every role it assumes for that tenant (Lake read role,
hub, spoke). Rotating it is an audited action. A role that sgportal can assume *without* the
ExternalId protects nobody — anyone who can name its ARN to sgportal could use it — so
``check_role`` tries exactly that, records the answer as a ``RoleCheck``, and every assume
refuses a role found not to enforce it (``refuse_unsafe_role``).

``assume_role`` is the one AssumeRole call: the Lake and trail read roles
(``assume_tenant_role``), the role check, remediation's hub and spoke chain
(``remediation.aws``) and the demo's trickle all go through it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from sgportal.audit import record_audit
from sgportal.models import AuditAction, AwsAccount, RoleCheck, RoleCheckStatus, Tenant
from sgportal.models.tenancy import new_external_id

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10)
DENIED = {"AccessDenied", "AccessDeniedException"}
logger = logging.getLogger(__name__)


class UnsafeRole(Exception):
    """The role can be assumed without the tenant's ExternalId, or lives in an AWS account
    another tenant verified: sgportal will not use it. ``code`` says which."""

    def __init__(self, message: str, code: str = "ExternalIdNotEnforced"):
        super().__init__(message)
        self.code = code


def rotate_external_id(tenant: Tenant, *, actor) -> str:
    """Give the tenant a new ExternalId, audited. Roles must then trust the new one; their
    earlier checks no longer say anything and are dropped."""
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = locked.external_id
        locked.external_id = new_external_id()
        locked.save(update_fields=["external_id"])
        RoleCheck.objects.filter(tenant=locked).delete()
        record_audit(
            locked,
            AuditAction.UPDATE,
            actor=actor,
            via="admin",
            obj=locked,
            object_repr=f"{locked}: ExternalId rotated",
            before={"external_id": before},
            after={"external_id": locked.external_id},
        )
    tenant.external_id = locked.external_id
    return locked.external_id


def trust_policy(tenant: Tenant) -> str:
    """The trust policy statement a tenant pastes into each role it gives sgportal."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": settings.SGPORTAL_AWS_PRINCIPAL},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                "Condition": {"StringEquals": {"sts:ExternalId": tenant.external_id}},
            }
        ],
    }
    return json.dumps(policy, indent=2)


def refuse_unsafe_role(tenant: Tenant, role_arn: str) -> None:
    """Raise UnsafeRole when the role lives in an AWS account another tenant has verified
    (proven it owns: ``AwsAccount.verified_at``), or was found assumable without the
    ExternalId -- by the check of *any* tenant: such a role protects nobody, so another
    tenant naming its ARN as one of theirs must not get it either. An account another tenant
    merely registered (unverified) blocks nobody: claims are proven, not first-come."""
    parts = role_arn.split(":")
    account_id = parts[4] if len(parts) > 5 else ""
    if (
        account_id
        and AwsAccount.objects.filter(account_id=account_id, verified_at__isnull=False)
        .exclude(tenant=tenant)
        .exists()
    ):
        raise UnsafeRole(
            f"sgportal refuses the role {role_arn}: its AWS account is verified by another "
            "tenant. Give sgportal roles in your own organization's accounts.",
            "AccountVerifiedElsewhere",
        )
    if RoleCheck.objects.filter(role_arn=role_arn, status=RoleCheckStatus.NOT_ENFORCED).exists():
        raise UnsafeRole(
            f"sgportal refuses the role {role_arn}: it can be assumed without this tenant's "
            "ExternalId. Add the sts:ExternalId condition shown in the tenant's settings to "
            "its trust policy, then check the roles again."
        )


@dataclass(frozen=True)
class RoleCredentials:
    """The temporary credentials of one AssumeRole, as boto3's keyword arguments."""

    credentials: dict[str, str]
    expires_at: datetime

    def session(self) -> boto3.session.Session:
        """A boto3 session acting as the assumed role."""
        return boto3.session.Session(**self.credentials)


def assume_role(
    sts,
    role_arn: str,
    *,
    session_name: str,
    external_id: str = "",
    source_identity: str = "",
    duration_s: int | None = None,
) -> RoleCredentials:
    """Assume ``role_arn`` with the STS client ``sts`` (which carries the caller's
    credentials and retry configuration). The ExternalId, SourceIdentity and duration are
    sent only when given. botocore's errors are the caller's to sort."""
    params: dict = {"RoleArn": role_arn, "RoleSessionName": session_name[:64]}
    if external_id:
        params["ExternalId"] = external_id
    if source_identity:
        params["SourceIdentity"] = source_identity
    if duration_s:
        params["DurationSeconds"] = duration_s
    creds = sts.assume_role(**params)["Credentials"]
    expires = creds["Expiration"]
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    return RoleCredentials(
        credentials={
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        },
        expires_at=expires,
    )


def assume_tenant_role(
    tenant: Tenant,
    role_arn: str,
    *,
    purpose: str,
    region: str | None = None,
    session: boto3.session.Session | None = None,
) -> boto3.session.Session:
    """A session in ``role_arn`` assumed for the tenant with its ExternalId; a role found
    assumable without it is refused (UnsafeRole). ``purpose`` names the session."""
    refuse_unsafe_role(tenant, role_arn)
    session = session or boto3.session.Session()
    sts = session.client("sts", region_name=region, config=_CONFIG)
    return assume_role(
        sts,
        role_arn,
        session_name=f"sgportal-{purpose}-{tenant.slug}",
        external_id=tenant.external_id,
    ).session()


def _sts(credentials: dict | None = None):
    return boto3.session.Session(**(credentials or {})).client("sts", config=_CONFIG)


def _assume(sts, role_arn: str, external_id: str | None) -> dict:
    return assume_role(
        sts, role_arn, session_name="sgportal-role-check", external_id=external_id or ""
    ).credentials


def _error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return error.get("Code", ""), error.get("Message", "")
    return type(exc).__name__, str(exc)


def check_role(
    tenant: Tenant, role_arn: str, *, parent: dict | None = None
) -> tuple[RoleCheck, dict | None]:
    """Assume the role with the ExternalId (it must work) and without it (it must be
    denied); record the result. Returns the check and the credentials (when assumable)."""
    sts = _sts(parent)
    credentials = None
    try:
        credentials = _assume(sts, role_arn, tenant.external_id)
    except (ClientError, BotoCoreError) as exc:
        code, message = _error(exc)
        status, detail = RoleCheckStatus.UNREACHABLE, f"{code}: {message}"
    else:
        try:
            _assume(sts, role_arn, None)
        except ClientError as exc:
            code, message = _error(exc)
            if code in DENIED:
                status, detail = RoleCheckStatus.ENFORCED, ""
            else:
                status, detail = RoleCheckStatus.UNREACHABLE, f"{code}: {message}"
        except BotoCoreError as exc:
            status, detail = RoleCheckStatus.UNREACHABLE, "{}: {}".format(*_error(exc))
        else:
            status = RoleCheckStatus.NOT_ENFORCED
            detail = "AssumeRole without the ExternalId succeeded."
    check, _ = RoleCheck.objects.update_or_create(
        tenant=tenant,
        role_arn=role_arn,
        defaults={"status": status, "detail": detail[:2000], "checked_at": timezone.now()},
    )
    return check, credentials


# Apps that assume more roles for a tenant (ingestion: the Lake and trail read roles) add
# a function returning their ARNs, so the check covers them without sgportal importing them.
read_role_finders: list = []


def check_tenant_roles(tenant: Tenant, *, actor=None, via: str = "system") -> list[RoleCheck]:
    """Check the read roles (Lake, trail), the hub role and every active account's spoke role
    (through the hub when there is one, as reverts assume it); each spoke role's result
    verifies or unverifies its account (``settle_claim``), audited as ``actor``/``via``."""
    checks = []
    for find in read_role_finders:
        for role_arn in dict.fromkeys(find(tenant)):
            checks.append(check_role(tenant, role_arn)[0])
    parent = None
    if tenant.hub_role_arn:
        hub, parent = check_role(tenant, tenant.hub_role_arn)
        checks.append(hub)
    for account in tenant.accounts.filter(active=True).exclude(spoke_role_arn=""):
        check = check_role(tenant, account.spoke_role_arn, parent=parent)[0]
        settle_claim(account, check, actor=actor, via=via)
        checks.append(check)
    return checks


def settle_claim(account: AwsAccount, check: RoleCheck, *, actor=None, via: str = "system") -> None:
    """Verify or unverify the tenant's account after a check of its spoke role, audited.

    ENFORCED proves the account's owner set up a role for this tenant: the account becomes
    verified, unless another tenant verified it first (the same organization registered
    twice): this one then stays unverified and the check's detail says so. NOT_ENFORCED
    clears it. UNREACHABLE (maybe a passing outage) leaves it as it is. Conditional updates
    on the checked role, so a spoke role changed meanwhile is not verified by a stale check.
    """
    rows = AwsAccount.objects.filter(
        pk=account.pk, tenant_id=check.tenant_id, spoke_role_arn=check.role_arn
    )
    if check.status == RoleCheckStatus.ENFORCED:
        now = timezone.now()
        with transaction.atomic():
            try:
                with transaction.atomic():
                    verified = rows.filter(verified_at=None).update(verified_at=now)
            except IntegrityError:  # uniq_verified_aws_account: another tenant verified it
                _claim_refused(account, check)
                return
            if verified:
                _audit_claim(account, None, now, actor=actor, via=via)
                account.verified_at = now
    elif check.status == RoleCheckStatus.NOT_ENFORCED:
        with transaction.atomic():
            before = rows.select_for_update().values_list("verified_at", flat=True).first()
            if before is not None and rows.update(verified_at=None):
                _audit_claim(account, before, None, actor=actor, via=via)
                account.verified_at = None


def _audit_claim(account: AwsAccount, before, after, *, actor, via: str) -> None:
    what = "verified (its spoke role requires this tenant's ExternalId)"
    if after is None:
        what = "no longer verified (its spoke role can be assumed without the ExternalId)"
    record_audit(
        account.tenant_id,
        AuditAction.UPDATE,
        actor=actor,
        via=via,
        obj=account,
        object_repr=f"{account}: {what}"[:300],
        before={"verified_at": before},
        after={"verified_at": after},
    )


def _claim_refused(account: AwsAccount, check: RoleCheck) -> None:
    detail = (
        f"The role requires the ExternalId, but AWS account {account.account_id} is verified "
        "by another tenant: it stays unverified for this tenant and sgportal will not revert "
        "in it. If this tenant owns the account, ask sgportal's operators."
    )
    RoleCheck.objects.filter(pk=check.pk).update(detail=detail)
    check.detail = detail
    logger.warning(
        "tenant %s: AWS account %s passed the role check but is verified by another tenant",
        account.tenant_id,
        account.account_id,
    )


def check_all_tenants() -> dict[str, int]:
    """Re-check the roles of every active tenant (beat, ``ROLE_CHECK_INTERVAL_S``).

    A trust policy is checked when it is saved, but a member account's admin can loosen it
    later (drop the ExternalId condition); this finds that within one interval, and from
    then on every assume refuses the role (``refuse_unsafe_role``). One tenant's failure
    does not stop the others. Returns the number of checks per status."""
    counts: dict[str, int] = {}
    for tenant in Tenant.objects.filter(active=True).order_by("pk"):
        try:
            checks = check_tenant_roles(tenant)
        except Exception:
            logger.exception("role check failed for tenant %s", tenant.slug)
            counts["error"] = counts.get("error", 0) + 1
            continue
        for check in checks:
            counts[check.status] = counts.get(check.status, 0) + 1
            if check.status == RoleCheckStatus.NOT_ENFORCED:
                logger.warning(
                    "tenant %s: role %s can be assumed without the ExternalId",
                    tenant.slug,
                    check.role_arn,
                )
    return counts
