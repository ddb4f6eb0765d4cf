"""The AWS session chain a revert runs under.

worker's own credentials -> (optional) the tenant's hub role in the security account ->
the member account's spoke role. Each hop passes its ExternalId, and the same
SourceIdentity (the deciding reviewer, sanitised) so CloudTrail attributes the revert to a
person; AWS requires a chained session to keep the SourceIdentity it started with. The
spoke session's name names the change (``sgportal-change-<id>``).

Credentials are cached in-process until shortly before they expire, and clients are
cached per credentials and region (one process-wide base session loads models once). The
hub credentials are keyed by (role, ExternalId, SourceIdentity), as one hub session serves
all of a reviewer's reverts; the spoke key also holds the session name so CloudTrail always
shows the change a call belongs to (retries and redeliveries of that change reuse it).

boto3 honours ``AWS_ENDPOINT_URL`` itself (a moto server in tests and the demo).
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.utils import timezone

from remediation.errors import (
    DENIED_CODES,
    TRANSIENT_CODES,
    PermanentAwsError,
    RoleAssumptionDenied,
    TransientAwsError,
    from_botocore,
)
from sgportal.models import AwsAccount, Tenant

BOTO_CONFIG = Config(retries={"mode": "standard"}, connect_timeout=10, read_timeout=30)
SESSION_DURATION_S = 3600  # the maximum for a chained role session
REFRESH_MARGIN = timedelta(minutes=5)
_ALLOWED = re.compile(r"[^\w+=,.@-]", re.ASCII)

# Called with every client this module creates. Tests inject faults at the network
# boundary here (botocore event hooks); operators may add instrumentation.
client_hooks: list[Callable[[BaseClient], None]] = []


def sanitize_identity(value: str, *, fallback: str = "system") -> str:
    """A SourceIdentity / session name fragment: [\\w+=,.@-], 2-64 characters."""
    text = _ALLOWED.sub("-", (value or "").strip())[:64].strip("-")
    if len(text) < 2:
        text = fallback
    return text


SYSTEM_IDENTITY = "system"  # policy (automatic) reverts
# A username is sent as is only when AWS takes it verbatim and it cannot be mistaken for
# another identity: Django usernames never hold "=" or ",", so every other form below
# carries "=" and is told apart by what follows it (a user id, or "n" + a name's hash).
_VERBATIM = re.compile(r"[\w+.@-]{2,64}", re.ASCII)
_RESERVED = re.compile(r"system|sgportal.*", re.IGNORECASE)


def _ascii_hint(text: str) -> str:
    """A readable ASCII rendering (``zoë`` -> ``zoe``), never holding "=" or ","."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _ALLOWED.sub("-", folded.replace("=", "-").replace(",", "-")).strip("-")


def source_identity_for(
    actor_name: str, username: str | None = None, user_id: int | None = None
) -> str:
    """The SourceIdentity naming one person, unambiguously and stably.

    The username as is when AWS accepts it verbatim and it is not reserved (``system``,
    ``sgportal…``); otherwise an ASCII hint plus ``=<user id>`` (``zoe=17``); a decider
    without a user account gets ``<hint>=n<hash of the name>``. Never ``system``.
    """
    if username and user_id is not None:
        if _VERBATIM.fullmatch(username) and not _RESERVED.fullmatch(username):
            return username
        suffix = f"={user_id}"
        hint = _ascii_hint(username)[: 64 - len(suffix)].strip("-") or "user"
        return f"{hint}{suffix}"
    name = username or actor_name.split(" <", 1)[0] or actor_name
    suffix = "=n" + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:16]
    hint = _ascii_hint(name)[: 64 - len(suffix)].strip("-") or "user"
    return f"{hint}{suffix}"


def session_name_for(change_id: int, kind: str = "change") -> str:
    return sanitize_identity(f"sgportal-{kind}-{change_id}")[:64]


@dataclass
class _Cached:
    credentials: dict
    expires_at: datetime


_cache: dict[tuple, _Cached] = {}
_clients: dict[tuple, BaseClient] = {}
_base: list[boto3.Session] = []
_lock = threading.RLock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _clients.clear()
        _base.clear()


def base_session() -> boto3.Session:
    """One session per process (the worker's own credentials): service models load once."""
    with _lock:
        if not _base:
            _base.append(boto3.Session())
        return _base[0]


def make_client(
    service: str, region: str | None = None, credentials: dict | None = None
) -> BaseClient:
    """A client (cached per credentials, service and region) with our retry config."""
    region = region or "us-east-1"
    key = (service, region, (credentials or {}).get("aws_access_key_id"))
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = base_session().client(
                service, region_name=region, config=BOTO_CONFIG, **(credentials or {})
            )
            for hook in client_hooks:
                hook(client)
            _clients[key] = client
        return client


def _assume(
    parent: dict | None,
    *,
    role_arn: str,
    external_id: str,
    source_identity: str,
    session_name: str,
    what: str,
) -> _Cached:
    sts = make_client("sts", None, parent)
    params = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "DurationSeconds": SESSION_DURATION_S,
        "SourceIdentity": source_identity,
    }
    if external_id:
        params["ExternalId"] = external_id
    try:
        creds = sts.assume_role(**params)["Credentials"]
    except BotoCoreError as exc:
        raise from_botocore(exc) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else "?"
        if code in TRANSIENT_CODES:
            raise TransientAwsError(code, message) from exc
        if code in DENIED_CODES or "denied" in code.lower():
            raise RoleAssumptionDenied(
                f"AWS refused to let sgportal assume the {what} {role_arn} in account "
                f"{account} ({code}: {message}). Check that role's trust "
                f"policy (the principal allowed to assume it, sts:SetSourceIdentity) and "
                f"that its ExternalId matches the one configured in sgportal.",
                code,
            ) from exc
        raise PermanentAwsError(
            f"AssumeRole of the {what} {role_arn} in account {account} failed: {code}: {message}",
            code,
        ) from exc
    credentials = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    expires = creds["Expiration"]
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    return _Cached(credentials, expires)


def _cached_assume(key: tuple, parent: dict | None, **kwargs) -> dict:
    now = timezone.now()
    with _lock:
        hit = _cache.get(key)
        if hit and hit.expires_at - REFRESH_MARGIN > now:
            return hit.credentials
        if hit:  # expired: drop the clients built on it
            stale = hit.credentials["aws_access_key_id"]
            for client_key in [k for k in _clients if k[2] == stale]:
                del _clients[client_key]
    fresh = _assume(parent, **kwargs)
    with _lock:
        _cache[key] = fresh
    return fresh.credentials


def spoke_credentials(
    tenant: Tenant, account: AwsAccount, *, source_identity: str, session_name: str
) -> dict:
    """Credentials in the member account, through the hub role when the tenant has one."""
    if not account.spoke_role_arn:
        raise RoleAssumptionDenied(
            f"No spoke role is configured for account {account.account_id} ({account.name}); "
            "set AwsAccount.spoke_role_arn.",
            "NoSpokeRole",
        )
    parent: dict | None = None
    parent_key: tuple = ("worker",)
    if tenant.hub_role_arn:
        parent_key = ("hub", tenant.hub_role_arn, tenant.hub_external_id, source_identity)
        parent = _cached_assume(
            parent_key,
            None,
            role_arn=tenant.hub_role_arn,
            external_id=tenant.hub_external_id,
            source_identity=source_identity,
            session_name=sanitize_identity(f"sgportal-hub-{source_identity}")[:64],
            what="hub role",
        )
    key = (
        "spoke",
        account.spoke_role_arn,
        account.spoke_external_id,
        source_identity,
        session_name,
        parent_key,
    )
    return _cached_assume(
        key,
        parent,
        role_arn=account.spoke_role_arn,
        external_id=account.spoke_external_id,
        source_identity=source_identity,
        session_name=session_name,
        what="spoke role",
    )


def ec2_client(
    tenant: Tenant,
    account: AwsAccount,
    region: str,
    *,
    source_identity: str,
    session_name: str,
) -> BaseClient:
    credentials = spoke_credentials(
        tenant, account, source_identity=source_identity, session_name=session_name
    )
    return make_client("ec2", region, credentials)
