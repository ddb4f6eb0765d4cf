"""sgportal models: tenancy, audit log, API tokens, SSO group mappings."""

from sgportal.models.audit import AuditAction, AuditChainHead, AuditEntry
from sgportal.models.sso import IdpGroupMapping
from sgportal.models.tenancy import (
    AwsAccount,
    Membership,
    MembershipSource,
    Policy,
    RoleCheck,
    RoleCheckStatus,
    SlackIdentity,
    Tenant,
)
from sgportal.models.tokens import ApiToken

__all__ = [
    "ApiToken",
    "AuditAction",
    "AuditChainHead",
    "AuditEntry",
    "AwsAccount",
    "IdpGroupMapping",
    "Membership",
    "MembershipSource",
    "Policy",
    "RoleCheck",
    "RoleCheckStatus",
    "SlackIdentity",
    "Tenant",
]
