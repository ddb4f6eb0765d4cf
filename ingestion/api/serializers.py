"""Serializers of the ingestion API."""

from __future__ import annotations

from rest_framework import serializers

from ingestion.models import PollRun


class PollRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PollRun
        fields = [
            "id",
            "kind",
            "window_start",
            "window_end",
            "query_id",
            "status",
            "rows_read",
            "new_changes",
            "duplicates",
            "unparseable",
            "bytes_scanned",
            "error",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class SourceHealthSerializer(serializers.Serializer):
    """One ``ingestion.sources.SourceReport``, flat; fields of another kind of source are null."""

    source = serializers.CharField(help_text="lake, eventbridge or trail")
    label = serializers.CharField()
    configured = serializers.BooleanField(help_text="The tenant has settings for it.")
    enabled = serializers.BooleanField()
    last_delivery_at = serializers.DateTimeField(allow_null=True)
    events_delivered = serializers.IntegerField(help_text="Security-group events, repeats too.")
    new_changes = serializers.IntegerField(help_text="Changes it was the first to deliver.")
    only_delivered = serializers.IntegerField(
        help_text="Changes no other source delivered (what the others dropped, or not yet)."
    )
    last_error = serializers.CharField(allow_blank=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    watermark = serializers.DateTimeField(
        allow_null=True, help_text="Lake: every event before it is stored."
    )
    last_success_at = serializers.DateTimeField(allow_null=True)
    files_read = serializers.IntegerField(allow_null=True, help_text="Trail files read.")
    files_skipped = serializers.IntegerField(allow_null=True)
    records_scanned = serializers.IntegerField(allow_null=True, help_text="Trail records read.")
    last_file_at = serializers.DateTimeField(allow_null=True, help_text="Trail: last file read.")
    skipped_test_events = serializers.IntegerField(allow_null=True)
    skipped_digests = serializers.IntegerField(allow_null=True)
    skipped_not_cloudtrail = serializers.IntegerField(allow_null=True)
    dead_letters = serializers.IntegerField(
        allow_null=True, help_text="Trail files parked after failing every try."
    )
    secret_set_at = serializers.DateTimeField(allow_null=True)
