"""Signed checkpoints of every audit chain head, kept outside the database.

Like CloudTrail's digest files: ``write_checkpoint`` (``manage.py audit_checkpoint``, hourly
on beat) records each tenant's chain head (seq, hash, where the keyed chain starts) in a
JSON document signed with an HMAC keyed by ``AUDIT_HMAC_KEY``, and writes it to the log and
to every store configured: a directory (``AUDIT_CHECKPOINT_DIR``) and S3
(``AUDIT_CHECKPOINT_S3_URI``, ideally a bucket with Object Lock so nobody can delete or
overwrite a checkpoint). ``verify_audit`` reads the latest checkpoint of each configured
store back: whoever can write the database can neither forge one (no key) nor reach one
(not in the database), so a chain whose tail was cut off and whose head was moved back no
longer reaches the seq and hash a checkpoint recorded.

A checkpoint is named ``checkpoint-<UTC time>.json``, so names sort by time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from sgportal.models import AuditChainHead
from sgportal.models.audit import audit_key, audit_key_id, audit_keys, canonical_json

logger = logging.getLogger("sgportal.audit.checkpoint")

FORMAT = "sgportal-audit-checkpoint/1"
PREFIX = "checkpoint-"


class CheckpointError(Exception):
    """A checkpoint store cannot be written or read, or a checkpoint cannot be trusted."""


@dataclass(frozen=True)
class CheckpointHead:
    tenant_id: int
    tenant: str  # the slug when the checkpoint was written
    seq: int
    hash: str
    keyed_from_seq: int


@dataclass(frozen=True)
class Checkpoint:
    location: str
    created_at: dt.datetime
    heads: dict[int, CheckpointHead]


def _signature(document: dict, master: str | None = None) -> str:
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    text = canonical_json(unsigned).encode()
    return hmac.new(audit_key("checkpoint", master), text, hashlib.sha256).hexdigest()


def build_checkpoint(now: dt.datetime | None = None) -> dict:
    """The signed document recording every tenant's chain head as committed right now."""
    heads = AuditChainHead.objects.select_related("tenant").order_by("tenant_id")
    document = {
        "format": FORMAT,
        "created_at": (now or timezone.now()).astimezone(dt.UTC).isoformat(),
        "key_id": audit_key_id(),
        "heads": [
            {
                "tenant_id": head.tenant_id,
                "tenant": head.tenant.slug,
                "seq": head.seq,
                "hash": head.hash,
                "keyed_from_seq": head.keyed_from_seq,
            }
            for head in heads
        ],
    }
    document["signature"] = _signature(document)
    return document


def parse_checkpoint(text: str | bytes, location: str) -> Checkpoint:
    """A checkpoint whose signature holds; CheckpointError naming what is wrong otherwise."""
    try:
        document = json.loads(text)
        if document.get("format") != FORMAT:
            raise CheckpointError(f"{location}: not a {FORMAT} document")
        master = audit_keys().get(str(document.get("key_id")))
        if master is None:
            raise CheckpointError(
                f"{location}: signed with a key sgportal does not hold (key id "
                f"{document.get('key_id')!r}; AUDIT_HMAC_KEY's is {audit_key_id()!r}, "
                "retired keys go into AUDIT_HMAC_PREVIOUS_KEYS)"
            )
        signature = _signature(document, master)
        if not hmac.compare_digest(str(document.get("signature", "")), signature):
            raise CheckpointError(f"{location}: signature does not match; forged or altered")
        heads = {
            int(h["tenant_id"]): CheckpointHead(
                int(h["tenant_id"]),
                str(h["tenant"]),
                int(h["seq"]),
                str(h["hash"]),
                int(h["keyed_from_seq"]),
            )
            for h in document["heads"]
        }
        created_at = dt.datetime.fromisoformat(document["created_at"])
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{location}: unreadable checkpoint ({exc})") from exc
    return Checkpoint(location, created_at, heads)


class Store(Protocol):
    def put(self, name: str, text: str) -> str: ...

    def latest(self) -> tuple[str, bytes] | None: ...


class DirectoryStore:
    """Checkpoint files in a local directory (mount one that the database's owner cannot write)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"directory {self.path}"

    def put(self, name: str, text: str) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / name
        with tempfile.NamedTemporaryFile("w", dir=self.path, delete=False, suffix=".tmp") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, target)  # never a half-written checkpoint under its name
        return str(target)

    def latest(self) -> tuple[str, bytes] | None:
        if not self.path.is_dir():
            return None
        names = sorted(p.name for p in self.path.glob(f"{PREFIX}*.json"))
        if not names:
            return None
        target = self.path / names[-1]
        return str(target), target.read_bytes()


class S3Store:
    """Checkpoint objects under an S3 prefix (a bucket with Object Lock is advised)."""

    def __init__(self, uri: str) -> None:
        parts = urlsplit(uri)
        self.bucket = parts.netloc
        self.prefix = parts.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"

    def __repr__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _client(self):
        import boto3

        return boto3.client("s3")

    def put(self, name: str, text: str) -> str:
        key = self.prefix + name
        self._client().put_object(
            Bucket=self.bucket,
            Key=key,
            Body=text.encode(),
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",  # Object Lock buckets require an integrity checksum
        )
        return f"s3://{self.bucket}/{key}"

    def latest(self) -> tuple[str, bytes] | None:
        client = self._client()
        newest = None
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + PREFIX
        ):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".json") and (newest is None or item["Key"] > newest):
                    newest = item["Key"]
        if newest is None:
            return None
        body = client.get_object(Bucket=self.bucket, Key=newest)["Body"].read()
        return f"s3://{self.bucket}/{newest}", body


def configured_stores() -> list[Store]:
    stores: list[Store] = []
    if settings.AUDIT_CHECKPOINT_DIR:
        stores.append(DirectoryStore(settings.AUDIT_CHECKPOINT_DIR))
    if settings.AUDIT_CHECKPOINT_S3_URI:
        stores.append(S3Store(settings.AUDIT_CHECKPOINT_S3_URI))
    return stores


def write_checkpoint(now: dt.datetime | None = None) -> list[str]:
    """Sign every chain head and write the checkpoint to the log and each store; the places
    it went. Raises CheckpointError after trying every store if any of them failed."""
    document = build_checkpoint(now)
    text = json.dumps(document, sort_keys=True, indent=1)
    logger.info("audit checkpoint %s", canonical_json(document))
    stamp = dt.datetime.fromisoformat(document["created_at"]).strftime("%Y%m%dT%H%M%S.%fZ")
    name = f"{PREFIX}{stamp}.json"
    written, failures = ["log"], []
    for store in configured_stores():
        try:
            written.append(store.put(name, text))
        except Exception as exc:  # every store is tried; the failure is reported below
            logger.exception("audit checkpoint %s not written to %r", name, store)
            failures.append(f"{type(store).__name__}: {exc}")
    if failures:
        raise CheckpointError(f"checkpoint {name} not written to: {'; '.join(failures)}")
    return written


def latest_checkpoints() -> list[Checkpoint]:
    """The latest checkpoint of each configured store, each with its signature checked.

    Raises CheckpointError when a store cannot be read or its latest checkpoint is not
    trustworthy: a verification that cannot see its checkpoints must not pass quietly.
    """
    found = []
    for store in configured_stores():
        try:
            latest = store.latest()
        except Exception as exc:
            raise CheckpointError(f"cannot read checkpoints from {store!r}: {exc}") from exc
        if latest is not None:
            found.append(parse_checkpoint(latest[1], latest[0]))
    return found
