"""Serializers of sgportal's own objects: AWS accounts and audit entries."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.relations import PrimaryKeyRelatedField

from sgportal.models import AuditEntry, AwsAccount


class FastReadSerializer(serializers.ModelSerializer):
    """A read-only ModelSerializer whose output is DRF's, field for field, without DRF's
    per-field attribute machinery (``get_attribute``, ``_readable_fields``) on every row:
    lists of hundreds of rows spend most of their time there (bench/api.py). Each field's
    own ``to_representation`` still formats its value; a primary-key relation reads the
    ``<name>_id`` column instead of loading the related row."""

    def _plan(self) -> list:
        plan = getattr(self, "_fast_plan", None)
        if plan is None:
            plan = []
            for field in self._readable_fields:
                if isinstance(field, PrimaryKeyRelatedField) and "." not in field.source:
                    plan.append((field.field_name, f"{field.source}_id", None))
                else:
                    plan.append((field.field_name, field.source, field.to_representation))
            self._fast_plan = plan
        return plan

    def to_representation(self, instance) -> dict:
        data = {}
        for name, attr, convert in self._plan():
            value = getattr(instance, attr)
            data[name] = value if value is None or convert is None else convert(value)
        return data


class AwsAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = AwsAccount
        # verified_at: null until the tenant's spoke role passed the role check (reverts
        # run only in a verified account; docs/aws-roles.md).
        fields = ["id", "account_id", "name", "regions", "active", "verified_at"]
        read_only_fields = fields


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "seq",
            "created_at",
            "actor_name",
            "via",
            "request_id",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "hash",
        ]
        read_only_fields = fields
