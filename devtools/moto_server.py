"""The demo's AWS emulator: moto's server, with the demo roles' ExternalId condition.

moto evaluates no trust policy: it lets anyone assume any role, with or without an
ExternalId. sgportal's role check (assume each role with the tenant's ExternalId, then
without: that must be refused) would then find every demo role unsafe and refuse it to
every tenant, and the demo's reverts would stop the first time someone ran "Check roles",
saved an account in admin, or left the demo running until beat's periodic check.

In AWS the demo's spoke and trail read roles carry the ``sts:ExternalId`` condition that
docs/aws-roles.md gives. Here an AssumeRole of a role with one of those names and no
ExternalId is refused with AccessDenied, as AWS would refuse it. The value is not compared:
the emulator starts before the demo's tenant, and its ExternalId, exist.

    python -m devtools.moto_server -H 127.0.0.1 -p 5000    (moto.server's options)
"""

from __future__ import annotations

import inspect
import sys

from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend

EXTERNAL_ID_ROLES = ("SgGuardSpoke", "SgPortalTrailRead")  # seed_demo's role names


def require_external_ids() -> None:
    """Make moto refuse AssumeRole of EXTERNAL_ID_ROLES without an ExternalId."""
    real = STSBackend.assume_role
    signature = inspect.signature(real)

    def assume_role(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        role_arn = call.arguments["role_arn"]
        if role_arn.rsplit("/", 1)[-1] in EXTERNAL_ID_ROLES and not call.arguments.get(
            "external_id"
        ):
            raise STSClientError(
                "AccessDenied",
                f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
        return real(*args, **kwargs)

    STSBackend.assume_role = assume_role


def main(argv: list[str] | None = None) -> None:
    require_external_ids()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
