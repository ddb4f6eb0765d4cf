"""Model fields shared by the apps."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        digest = hashlib.sha256(f"sgportal-fields:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds a bad Fernet key: {exc}") from exc


class EncryptedTextField(models.TextField):
    """A text field stored Fernet-encrypted at rest (secrets such as Slack bot tokens)."""

    PREFIX = "fernet:"

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        if not value.startswith(self.PREFIX):
            return value
        try:
            return _fernet().decrypt(value[len(self.PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                f"{self.model.__name__}.{self.name} cannot be decrypted: FIELD_ENCRYPTION_KEYS "
                "or SECRET_KEY changed without keeping the old key."
            ) from exc

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return self.PREFIX + _fernet().encrypt(value.encode()).decode()


class JSONTextField(models.TextField):
    """A JSON document kept as text, read back as Python objects.

    For documents stored for the record and never queried inside (the raw CloudTrail
    record): PostgreSQL does not parse them into jsonb on every insert, which was about half
    of the database's cost per ingested event. A ``str`` given for saving is taken to be JSON
    text already (the record exactly as the source sent it); anything else is encoded.
    """

    def from_db_value(self, value, expression, connection):
        return self.to_python(value)

    def to_python(self, value):
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:  # written by hand, not by us: keep it visible rather than fail
            return {"unparsed_text": value}

    def get_prep_value(self, value):
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, cls=DjangoJSONEncoder)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))
