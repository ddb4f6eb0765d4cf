"""Serializers of sgportal's own objects: AWS accounts and audit entries."""

from __future__ import annotations

from rest_framework import serializers

from sgportal.models import AuditEntry, AwsAccount


class AwsAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = AwsAccount
        fields = ["id", "account_id", "name", "regions", "active"]
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
