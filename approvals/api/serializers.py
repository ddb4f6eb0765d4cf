"""Serializers of the changes API: a change, its decisions, and a decision request."""

from __future__ import annotations

from rest_framework import serializers

from approvals.models import Decision, Verdict
from ingestion.models import SecurityGroupChange
from sgportal.api.serializers import FastReadSerializer

CHANGE_FIELDS = [
    "id",
    "event_id",
    "source",
    "ingested_at",
    "event_name",
    "event_time",
    "aws_account_id",
    "account",
    "region",
    "request_id",
    "actor_type",
    "actor_arn",
    "actor_account_id",
    "session_issuer_arn",
    "via_console",
    "source_ip",
    "user_agent",
    "group_id",
    "group_name",
    "vpc_id",
    "rules",
    "error_code",
    "error_message",
    "status",
    "status_changed_at",
]


class ChangeSerializer(FastReadSerializer):
    class Meta:
        model = SecurityGroupChange
        fields = CHANGE_FIELDS
        read_only_fields = fields


class DecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Decision
        fields = ["id", "verdict", "via", "actor_name", "reason", "decided_at"]
        read_only_fields = fields


class ChangeDetailSerializer(ChangeSerializer):
    decisions = DecisionSerializer(many=True, read_only=True)
    raw = serializers.JSONField(read_only=True, help_text="The CloudTrail record as received.")

    class Meta(ChangeSerializer.Meta):
        fields = [*CHANGE_FIELDS, "decisions", "raw"]
        read_only_fields = fields


class DecisionRequestSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=[Verdict.APPROVE, Verdict.DENY])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class OcsfEventSerializer(serializers.Serializer):
    """An OCSF 1.5.0 event (API Activity 6003 or Remediation Activity 7001), built by
    ``approvals.api.ocsf``; the members listed are the ones every event has."""

    class_uid = serializers.ChoiceField(choices=[6003, 7001])
    category_uid = serializers.IntegerField()
    activity_id = serializers.IntegerField()
    type_uid = serializers.IntegerField()
    severity_id = serializers.IntegerField()
    time = serializers.IntegerField(help_text="Milliseconds since the epoch (UTC).")
    metadata = serializers.JSONField()
    cloud = serializers.JSONField()

    def __init__(self, *args, builder=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.builder = builder

    def to_representation(self, instance) -> dict:
        return self.builder(instance)
