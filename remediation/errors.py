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
        self.detail = message

    def __reduce__(self):  # picklable, so Celery can carry it across processes
        return (type(self), (self.code, self.detail))


class PermanentAwsError(Exception):
    """A refusal or error a retry will not fix."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code

    def __reduce__(self):
        return (type(self), (str(self), self.code))


class RoleAssumptionDenied(PermanentAwsError):
    """AWS refused a hop of the session chain: a misconfiguration to fix."""


# botocore errors that no retry can fix: the worker itself is misconfigured.
CONFIG_ERRORS = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "NoRegionError",
    "ParamValidationError",
    "UnknownServiceError",
    "InvalidConfigError",
}


def from_botocore(exc: Exception) -> Exception:
    """Sort a botocore (non-HTTP) error: a missing-credentials or bad-configuration error
    fails closed with what to fix; connection trouble is transient."""
    name = type(exc).__name__
    if name in CONFIG_ERRORS or any(c.__name__ in CONFIG_ERRORS for c in type(exc).__mro__):
        return PermanentAwsError(
            f"The sgportal worker cannot call AWS ({name}: {exc}). Give the worker AWS "
            "credentials (an instance/task role or AWS_* variables) and a region.",
            name,
        )
    return TransientAwsError(name, str(exc))
