"""How remediation sorts AWS's answers: transient (retry with backoff) or permanent (fail
closed, never retried), with messages that say what to fix."""

from __future__ import annotations

THROTTLE_CODES = {
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequestsException",
}
UNAVAILABLE_CODES = {"InternalError", "ServiceUnavailable", "Unavailable", "InternalFailure"}
# ExpiredToken: a cached session outlived its credentials; a retry assumes the role afresh.
TRANSIENT_CODES = THROTTLE_CODES | UNAVAILABLE_CODES | {"ExpiredToken", "RequestExpired"}
DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "Client.UnauthorizedOperation",
    "AuthFailure",
    "InvalidClientTokenId",
    "RegionDisabledException",
}


class TransientAwsError(Exception):
    """Throttled or briefly unavailable: retry later."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class PermanentAwsError(Exception):
    """A refusal or error a retry will not fix."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


class RoleAssumptionDenied(PermanentAwsError):
    """AWS refused a hop of the session chain: a misconfiguration to fix."""
