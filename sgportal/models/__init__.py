"""sgportal models: tenancy, audit log, API tokens."""

from sgportal.models.audit import AuditAction, AuditChainHead, AuditEntry
from sgportal.models.tenancy import (
    AwsAccount,
    Membership,
    Policy,
    RoleCheck,
    RoleCheckStatus,
    SlackIdentity,
    SlackStatus,
    Tenant,
)
from sgportal.models.tokens import ApiToken

__all__ = [
    "ApiToken",
    "AuditAction",
    "AuditChainHead",
    "AuditEntry",
    "AwsAccount",
    "Membership",
    "Policy",
    "RoleCheck",
    "RoleCheckStatus",
    "SlackIdentity",
    "SlackStatus",
    "Tenant",
]
